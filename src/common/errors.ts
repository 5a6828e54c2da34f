/**
 * The error envelope of CONTRACT §4: every error the service answers has the body
 * `{ "error": { "code", "message", "details" } }`. Code throws AppError; the
 * exception filter maps everything else (framework, Fastify, database) onto it.
 */

export enum ErrorCode {
  VALIDATION_FAILED = 'VALIDATION_FAILED',
  MALFORMED_JSON = 'MALFORMED_JSON',
  UNAUTHORIZED = 'UNAUTHORIZED',
  SESSION_NOT_FOUND = 'SESSION_NOT_FOUND',
  NOT_FOUND = 'NOT_FOUND',
  METHOD_NOT_ALLOWED = 'METHOD_NOT_ALLOWED',
  PAYLOAD_TOO_LARGE = 'PAYLOAD_TOO_LARGE',
  UNSUPPORTED_MEDIA_TYPE = 'UNSUPPORTED_MEDIA_TYPE',
  UPSTREAM_UNAVAILABLE = 'UPSTREAM_UNAVAILABLE',
  SERVICE_UNAVAILABLE = 'SERVICE_UNAVAILABLE',
  NOT_CONFIGURED = 'NOT_CONFIGURED',
  INTERNAL_ERROR = 'INTERNAL_ERROR',
}

export const HTTP_STATUS: Record<ErrorCode, number> = {
  [ErrorCode.VALIDATION_FAILED]: 400,
  [ErrorCode.MALFORMED_JSON]: 400,
  [ErrorCode.UNAUTHORIZED]: 401,
  [ErrorCode.SESSION_NOT_FOUND]: 404,
  [ErrorCode.NOT_FOUND]: 404,
  [ErrorCode.METHOD_NOT_ALLOWED]: 405,
  [ErrorCode.PAYLOAD_TOO_LARGE]: 413,
  [ErrorCode.UNSUPPORTED_MEDIA_TYPE]: 415,
  [ErrorCode.UPSTREAM_UNAVAILABLE]: 502,
  [ErrorCode.SERVICE_UNAVAILABLE]: 503,
  [ErrorCode.NOT_CONFIGURED]: 503,
  [ErrorCode.INTERNAL_ERROR]: 500,
};

/** One problem with one field of the input, e.g. `{ field: "accounts[0].created_at", problem: "..." }`. */
export interface ErrorDetail {
  field: string;
  problem: string;
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details: unknown[] };
}

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: unknown[] = [],
  ) {
    super(message);
  }

  get status(): number {
    return HTTP_STATUS[this.code];
  }

  toBody(): ErrorBody {
    return { error: { code: this.code, message: this.message, details: this.details } };
  }

  static validation(details: ErrorDetail[], message = 'The request is invalid'): AppError {
    return new AppError(ErrorCode.VALIDATION_FAILED, message, details);
  }

  static sessionNotFound(sessionId: string): AppError {
    return new AppError(ErrorCode.SESSION_NOT_FOUND, `Session ${sessionId} is not tracked`);
  }
}
