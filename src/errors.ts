/**
 * Typed errors with a stable code. The code maps to exactly one HTTP status in `httpStatusOf`;
 * every HTTP entry point (ingress, resource API) renders errors through it.
 */
export type ErrorCode =
  | "InvalidEvent"
  | "UnsupportedMediaType"
  | "PayloadTooLarge"
  | "ChannelNotFound"
  | "NotFound"
  | "MethodNotAllowed"
  | "BackendUnavailable"
  | "ChannelFull"
  | "InvalidResource"
  | "Conflict"
  | "BadRequest"
  | "Unauthorized"
  | "Forbidden"
  | "Internal";

const statusByCode: Record<ErrorCode, number> = {
  InvalidEvent: 400,
  InvalidResource: 422,
  UnsupportedMediaType: 415,
  PayloadTooLarge: 413,
  ChannelNotFound: 404,
  NotFound: 404,
  MethodNotAllowed: 405,
  Conflict: 409,
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  BackendUnavailable: 503,
  ChannelFull: 503,
  Internal: 500,
};

export class HeraldError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Machine-readable details, e.g. the list of validation problems. Never secrets. */
    readonly details?: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = code;
  }
}

export function httpStatusOf(error: unknown): number {
  return error instanceof HeraldError ? statusByCode[error.code] : 500;
}

/** The JSON body every HTTP entry point answers an error with. */
export function errorBody(error: unknown): { code: ErrorCode; message: string; details?: unknown } {
  if (error instanceof HeraldError) {
    return error.details === undefined
      ? { code: error.code, message: error.message }
      : { code: error.code, message: error.message, details: error.details };
  }
  return { code: "Internal", message: "internal error" };
}

export function backendUnavailable(backend: string, cause: unknown): HeraldError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new HeraldError("BackendUnavailable", `${backend} cannot accept events: ${reason}`, undefined, {
    cause,
  });
}
