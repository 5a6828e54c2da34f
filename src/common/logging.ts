import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Params } from 'nestjs-pino';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { pino, type Logger as PinoLogger, type LoggerOptions } from 'pino';

/**
 * Structured JSON logs. Secrets are removed by the logger's configuration,
 * not by discipline at each call site: credential headers are redacted, and
 * a webhook `?token=` is cut from every logged URL.
 */
const REDACT: LoggerOptions['redact'] = {
  paths: [
    'req.headers.authorization',
    'req.headers["x-api-key"]',
    'req.headers["x-webhook-token"]',
    'req.headers["server-hash"]',
    'req.headers.cookie',
    '*.account_number', // never logged today; masked to its last 4 characters should that change
  ],
  censor: (value, path) => (path.at(-1) === 'account_number' ? maskAccountNumber(value as string | null) : '[REDACTED]'),
};


/** Account numbers in logs: only the last 4 characters. */
export function maskAccountNumber(value: string | null | undefined): string | null {
  if (!value) return null;
  return value.length <= 4 ? '*'.repeat(value.length) : `${'*'.repeat(value.length - 4)}${value.slice(-4)}`;
}

/** A URL safe to log or show: a `?token=` and any `user:password@` replaced by REDACTED. */
export function redactUrl(url: string): string {
  return url.replace(/([?&]token=)[^&#]*/gi, '$1REDACTED').replace(/^(https?:\/\/)[^/?#@]*@/i, '$1REDACTED@');
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** Fastify's request id (also in every log line of the request): the caller's x-request-id when sane, else a UUID. */
export function requestId(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

/**
 * The one pino instance of the application: nestjs-pino's Logger (what
 * `new Logger(Class.name)` writes through) and the access log share it.
 */
export function rootLogger(level: string = 'info'): PinoLogger {
  return pino({ level, redact: REDACT });
}

/**
 * nestjs-pino as the application's LoggerService, without its per-request
 * middleware: request logging is one line per response written by
 * `logRequest` from a Fastify hook, which costs a fraction of pino-http's
 * middleware and async context (measured in BENCHMARKS.md).
 */
export function loggerModuleOptions(logger: PinoLogger): Params {
  return { pinoHttp: { logger }, forRoutes: [] };
}

const QUIET_ROUTES = /^\/(health|metrics)(\/|$|\?)/;

/** The access log: one line per response, at warn for 4xx and error for 5xx; /health and /metrics only when they fail. */
export function logRequest(logger: PinoLogger, request: FastifyRequest, reply: FastifyReply): void {
  const status = reply.statusCode;
  const level = status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info';
  if (level === 'info' && QUIET_ROUTES.test(request.url)) return;
  logger[level](
    {
      req: { id: request.id, method: request.method, url: redactUrl(request.url), remoteAddress: request.ip },
      res: { statusCode: status },
      responseTime: Math.round(reply.elapsedTime * 10) / 10,
    },
    'request completed',
  );
}
