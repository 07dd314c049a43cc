import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { Agent, request } from "node:http";

/** The worker processes a `serve --workers` primary started (Linux: /proc). */
export function childrenOf(pid: number): number[] {
  const text = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim();
  return text ? text.split(/\s+/).map(Number) : [];
}

/**
 * Which of `pids` holds the open TCP connection from `localPort` to `remotePort` on loopback
 * (Linux: the socket's inode in /proc/net/tcp, then the process with a descriptor on it), so a test
 * tells which worker accepted a request or sent a delivery. Undefined when none does.
 */
export function socketOwner(
  pids: readonly number[],
  localPort: number,
  remotePort: number,
): number | undefined {
  const hex = (port: number) => port.toString(16).toUpperCase().padStart(4, "0");
  const inodes = new Set<string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of readFileSync(table, "utf8").split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10 || fields[9] === "0") continue;
      if (fields[1]!.endsWith(`:${hex(localPort)}`) && fields[2]!.endsWith(`:${hex(remotePort)}`))
        inodes.add(`socket:[${fields[9]}]`);
    }
  }
  for (const pid of pids) {
    let descriptors: string[];
    try {
      descriptors = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of descriptors) {
      try {
        if (inodes.has(readlinkSync(`/proc/${pid}/fd/${fd}`))) return pid;
      } catch {
        // closed while listed
      }
    }
  }
  return undefined;
}

/**
 * One HTTP request on a connection of its own (the primary hands each new connection to a worker in
 * turn), resolving with the status, the body and the worker that served it among `pids`.
 */
export function requestOnNewConnection(
  url: string,
  pids: readonly number[],
  options: { method?: string; headers?: Record<string, string>; body?: string; timeoutMs?: number } = {},
): Promise<{ status: number; body: string; servedBy: number | undefined }> {
  const target = new URL(url);
  // Kept alive, so the worker's end is still open when the answer arrives; closed once read.
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  return new Promise<{ status: number; body: string; servedBy: number | undefined }>((resolve, reject) => {
    const outgoing = request(
      url,
      { method: options.method ?? "GET", headers: options.headers, agent },
      (response) => {
        // Asked while the connection is still open.
        const servedBy = socketOwner(pids, Number(target.port), outgoing.socket!.localPort!);
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (body += chunk));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body, servedBy }));
      },
    );
    // A deadline, so that a caller waiting with eventually() tries again on a new connection.
    const timeoutMs = options.timeoutMs ?? 30_000;
    outgoing.setTimeout(timeoutMs, () =>
      outgoing.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`)),
    );
    outgoing.on("error", reject);
    outgoing.end(options.body);
  }).finally(() => agent.destroy());
}
