import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, describe, it } from "node:test";
import { eventually } from "../support/eventually.js";
import { InProcessHerald } from "../support/herald.js";

/** A raw TCP connection to `url`, recording whether the server closed it. */
async function open(url: string): Promise<{ socket: Socket; closed: () => boolean; data: () => string }> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  let closed = false;
  let data = "";
  socket.on("close", () => (closed = true));
  socket.on("data", (chunk: Buffer) => (data += chunk.toString()));
  socket.on("error", () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  return { socket, closed: () => closed, data: () => data };
}

describe("listener limits", () => {
  const heralds: InProcessHerald[] = [];
  after(async () => {
    for (const herald of heralds) await herald.close();
  });

  it("closes an idle keep-alive connection after HERALD_KEEP_ALIVE_TIMEOUT_MS", async () => {
    const herald = await InProcessHerald.start({ env: { HERALD_KEEP_ALIVE_TIMEOUT_MS: "200" } });
    heralds.push(herald);
    const connection = await open(herald.url);
    connection.socket.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    await eventually(() => connection.data().startsWith("HTTP/1.1 200"), { message: "the answer" });
    await eventually(connection.closed, { message: "the idle connection to be closed" });
  });

  it("holds at most HERALD_MAX_CONNECTIONS connections at once", async () => {
    const herald = await InProcessHerald.start({ env: { HERALD_MAX_CONNECTIONS: "1" } });
    heralds.push(herald);
    const first = await open(herald.url);
    const second = await open(herald.url);
    await eventually(second.closed, { message: "the connection beyond the limit to be closed" });
    first.socket.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    await eventually(() => first.data().startsWith("HTTP/1.1 200"), {
      message: "the first connection served",
    });
    await eventually(first.closed);
    // Once the first is gone, a new connection is served.
    const third = await open(herald.url);
    third.socket.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    await eventually(() => third.data().startsWith("HTTP/1.1 200"), { message: "a later connection served" });
  });

  it("refuses a limit that is not a positive integer, naming the variable", async () => {
    await assert.rejects(
      InProcessHerald.start({ env: { HERALD_MAX_CONNECTIONS: "0" } }),
      /HERALD_MAX_CONNECTIONS/,
    );
  });
});
