import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { isDatabaseUnavailable } from '../database/database-errors.js';
import { AppError, ErrorCode } from './errors.js';

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: ErrorCode.PAYLOAD_TOO_LARGE,
  FST_ERR_CTP_INVALID_MEDIA_TYPE: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: ErrorCode.MALFORMED_JSON,
  FST_ERR_CTP_EMPTY_JSON_BODY: ErrorCode.MALFORMED_JSON,
  FST_ERR_CTP_INVALID_JSON_BODY: ErrorCode.MALFORMED_JSON,
};

const BY_STATUS: Record<number, ErrorCode> = {
  400: ErrorCode.VALIDATION_FAILED,
  401: ErrorCode.UNAUTHORIZED,
  403: ErrorCode.UNAUTHORIZED,
  404: ErrorCode.NOT_FOUND,
  405: ErrorCode.METHOD_NOT_ALLOWED,
  413: ErrorCode.PAYLOAD_TOO_LARGE,
  415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
  502: ErrorCode.UPSTREAM_UNAVAILABLE,
  503: ErrorCode.SERVICE_UNAVAILABLE,
};

const logger = new Logger('ErrorFilter');

/** Maps any thrown value onto the contract's error envelope. Never leaks a stack or a framework body. */
export function toAppError(thrown: unknown): AppError {
  // Nest wraps Fastify's own errors (body parsing, limits) in an HttpException: look at the original.
  const exception = thrown instanceof HttpException && thrown.cause ? thrown.cause : thrown;
  if (exception instanceof AppError) return exception;
  if (isDatabaseUnavailable(exception)) {
    return new AppError(ErrorCode.SERVICE_UNAVAILABLE, 'The database is unavailable; retry later');
  }
  const { code, statusCode } = exception as { code?: unknown; statusCode?: unknown };
  if (typeof code === 'string' && FASTIFY_CODES[code]) {
    return new AppError(FASTIFY_CODES[code], fastifyMessage(FASTIFY_CODES[code]));
  }
  if (exception instanceof SyntaxError && statusCode === 400) {
    return new AppError(ErrorCode.MALFORMED_JSON, fastifyMessage(ErrorCode.MALFORMED_JSON));
  }
  const status = exception instanceof HttpException ? exception.getStatus() : Number(statusCode);
  if (BY_STATUS[status]) {
    const message = exception instanceof Error ? exception.message : 'Request failed';
    const response = exception instanceof HttpException ? exception.getResponse() : undefined;
    const details = typeof response === 'object' && response && 'details' in response ? (response.details as unknown[]) : [];
    return new AppError(BY_STATUS[status], message, details);
  }
  logger.error({ err: exception }, 'Unhandled error');
  return new AppError(ErrorCode.INTERNAL_ERROR, 'Internal error');
}

function fastifyMessage(code: ErrorCode): string {
  switch (code) {
    case ErrorCode.PAYLOAD_TOO_LARGE:
      return 'The request body is larger than allowed';
    case ErrorCode.UNSUPPORTED_MEDIA_TYPE:
      return 'The request body must be application/json';
    default:
      return 'The request body is not valid JSON';
  }
}

@Catch()
export class ErrorEnvelopeFilter implements ExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): void {
    const error = toAppError(exception);
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    void reply.status(error.status).header('content-type', 'application/json; charset=utf-8').send(error.toBody());
  }
}
