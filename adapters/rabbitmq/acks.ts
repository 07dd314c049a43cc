import type { Channel, ConsumeMessage } from "amqplib";

export interface Delivery {
  /** Dropped once acked, so a long-held earlier delivery does not keep later bodies in memory. */
  message: ConsumeMessage | undefined;
  done: boolean;
}

/**
 * Acknowledges one AMQP channel's deliveries in batches. Delivery tags grow in the order RabbitMQ
 * hands messages over; once the earliest ones are done, one `basic.ack` with `multiple` covers the
 * whole finished prefix. Completions of one event-loop turn share one frame (the flush runs on
 * `setImmediate`). Deliveries that finish behind one still in flight are acked one by one once
 * `aheadLimit` of them wait, so a slow event does not hold prefetch slots. A delivery never `done`
 * (its handler did not resolve before close) is never acked: RabbitMQ returns it to the queue.
 */
export class Acknowledger {
  private readonly deliveries: Delivery[] = [];
  private head = 0;
  /** Done, not acked, and behind the finished prefix (as of the last flush). */
  private finished: Delivery[] = [];
  private scheduled = false;

  constructor(
    private readonly amqp: Channel,
    private readonly isOpen: () => boolean,
    private readonly aheadLimit: number,
  ) {}

  /** Registers a delivery, in the order the channel hands them over. */
  track(message: ConsumeMessage): Delivery {
    const delivery: Delivery = { message, done: false };
    this.deliveries.push(delivery);
    return delivery;
  }

  /** The handler resolved (or the message needs no delivery): ack it with the next flush. */
  done(delivery: Delivery): void {
    delivery.done = true;
    this.finished.push(delivery);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush(false));
  }

  /**
   * Sends the acks due: the finished prefix in one frame, and the deliveries finished behind one in
   * flight when `all` (closing) or when `aheadLimit` of them wait.
   */
  flush(all: boolean): void {
    this.scheduled = false;
    if (!this.isOpen()) return;
    let last: Delivery | undefined;
    const from = this.head;
    while (this.head < this.deliveries.length && this.deliveries[this.head]!.done) {
      const delivery = this.deliveries[this.head++]!;
      // RabbitMQ refuses a multiple ack whose own tag is no longer outstanding: take the last unacked.
      if (delivery.message) last = delivery;
    }
    if (last) {
      this.send(last.message!, true);
      for (let index = from; index < this.head; index++) this.deliveries[index]!.message = undefined;
    }
    if (this.head > 1024 && this.head * 2 > this.deliveries.length) {
      this.deliveries.splice(0, this.head);
      this.head = 0;
    }
    this.finished = this.finished.filter((delivery) => delivery.message !== undefined);
    if (!all && this.finished.length < this.aheadLimit) return;
    for (const delivery of this.finished) {
      this.send(delivery.message!, false);
      delivery.message = undefined;
    }
    this.finished = [];
  }

  private send(message: ConsumeMessage, multiple: boolean): void {
    try {
      this.amqp.ack(message, multiple);
    } catch {
      // The channel closed meanwhile: RabbitMQ has returned its unacknowledged messages already.
    }
  }
}
