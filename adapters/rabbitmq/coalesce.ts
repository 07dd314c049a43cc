import type { ChannelModel } from "amqplib";

/**
 * amqplib's internals this relies on (amqplib 2.x, lib/connection.js and lib/mux.js): the
 * connection's socket (`stream`) and the multiplexer (`muxer`) that, once per event-loop turn,
 * moves every frame its channels queued to the socket, one `write` per message or ack.
 */
interface Internals {
  readonly stream: { cork(): void; uncork(): void };
  readonly muxer: { _readIncoming(): void };
}

const COALESCED = Symbol("herald.coalesced");

/**
 * Makes the frames one multiplexer pass moves (the messages published and the acks sent during one
 * event-loop turn, on every channel) leave in one socket write instead of one write each: fewer
 * system calls in Herald, and fewer, fuller TCP segments for RabbitMQ to read. Nothing waits longer:
 * the pass writes what was already queued, and flow control is unchanged (a full socket buffer
 * still pauses the multiplexer until 'drain'). Returns false, changing nothing, when the connection
 * does not have the expected shape (another amqplib version).
 */
export function coalesceWrites(model: ChannelModel): boolean {
  const internals = model.connection as unknown as Partial<Internals> & { [COALESCED]?: true };
  const { stream, muxer } = internals;
  if (internals[COALESCED]) return true;
  if (
    typeof stream?.cork !== "function" ||
    typeof stream.uncork !== "function" ||
    typeof muxer?._readIncoming !== "function"
  )
    return false;
  const pass = muxer._readIncoming.bind(muxer);
  muxer._readIncoming = () => {
    stream.cork();
    try {
      pass();
    } finally {
      stream.uncork();
    }
  };
  internals[COALESCED] = true;
  return true;
}
