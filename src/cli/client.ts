/** A small client of Herald's resource API, used by the CLI. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: {
      code?: string;
      message?: string;
      details?: { problems?: { path: string; message: string }[] };
    },
  ) {
    super(body.message ?? `HTTP ${status}`);
  }
}

export class ServerUnreachable extends Error {}

/** The Herald the CLI talks to, and the bearer token it sends, if any. */
export interface Connection {
  readonly server: string;
  readonly token?: string | undefined;
}

export async function request(
  connection: Connection,
  method: string,
  path: string,
  body?: { text: string; contentType: string },
): Promise<unknown> {
  const { server, token } = connection;
  const headers: Record<string, string> = {};
  if (body) headers["content-type"] = body.contentType;
  if (token) headers.authorization = `Bearer ${token}`;
  let response: Response;
  try {
    response = await fetch(`${server}${path}`, { method, headers, body: body?.text });
  } catch (error) {
    throw new ServerUnreachable(`cannot reach Herald at ${server}: ${reasonOf(error)}`);
  }
  const text = await response.text();
  const parsed: unknown = text ? safeJson(text) : undefined;
  if (!response.ok) throw new ApiError(response.status, (parsed as ApiError["body"]) ?? { message: text });
  return parsed;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { message: text };
  }
}

/** fetch fails with "fetch failed" and the socket's error as its cause: name the cause. */
function reasonOf(error: unknown): string {
  const cause = error instanceof Error ? error.cause : undefined;
  if (cause instanceof Error) return cause.message;
  return error instanceof Error ? error.message : String(error);
}
