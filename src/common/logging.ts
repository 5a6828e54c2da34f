import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { RequestMethod } from '@nestjs/common';
import type { Params } from 'nestjs-pino';
import { pino, type LoggerOptions } from 'pino';
import type { AppConfig } from '../config/configuration.js';

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

export function redactUrl(url: string | undefined): string | undefined {
  return url?.replace(/([?&]token=)[^&#]*/gi, '$1[REDACTED]');
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** Fastify's request id (also in every log line of the request): the caller's x-request-id when sane, else a UUID. */
export function requestId(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

export function loggerOptions(config: AppConfig): Params {
  return {
    pinoHttp: {
      level: config.logLevel,
      redact: REDACT,
      serializers: {
        req: (req: { id: string; method: string; url: string; remoteAddress?: string; raw?: { originalUrl?: string } }) => ({
          id: req.id,
          method: req.method,
          url: redactUrl(req.raw?.originalUrl ?? req.url),
          remoteAddress: req.remoteAddress,
        }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
      customLogLevel: (_req, res, error) => (error || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
      autoLogging: { ignore: (req) => /^\/(health|metrics)/.test((req as { originalUrl?: string }).originalUrl ?? req.url ?? '') },
    },
    // Every route (nestjs-pino's default pattern does not match under Fastify with NestJS 12).
    forRoutes: [{ path: '*', method: RequestMethod.ALL }],
  };
}

/** For the few lines logged before the application exists (configuration, embedded database). */
export function bootLogger(level: string = 'info') {
  return pino({ level, redact: REDACT });
}
