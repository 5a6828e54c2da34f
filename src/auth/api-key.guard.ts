import { CanActivate, ExecutionContext, Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError, ErrorCode } from '../common/errors.js';
import type { AppConfig } from '../config/configuration.js';
import { matchesAny } from './secrets.js';

/** The internal REST API: `Authorization: Bearer <key>` or `x-api-key: <key>`, any key of API_KEYS. */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly keys: string[] | undefined;

  constructor(config: ConfigService<AppConfig, true>) {
    this.keys = config.get('auth', { infer: true }).apiKeys;
  }

  canActivate(context: ExecutionContext): boolean {
    if (!this.keys) return true; // API_KEYS unset outside production: open, warned at start-up
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const bearer = /^Bearer\s+(.+)$/i.exec(request.headers.authorization ?? '')?.[1]?.trim();
    const header = request.headers['x-api-key'];
    if (matchesAny(bearer, this.keys) || matchesAny(typeof header === 'string' ? header : undefined, this.keys)) return true;
    // RFC 9110 §11.6.1: a 401 names the scheme it expects.
    void context.switchToHttp().getResponse<FastifyReply>().header('www-authenticate', 'Bearer');
    throw new AppError(ErrorCode.UNAUTHORIZED, 'A valid API key is required (Authorization: Bearer <key> or x-api-key)');
  }
}

export function warnIfOpen(config: AppConfig, logger = new Logger('Auth')): void {
  if (!config.auth.apiKeys) logger.warn('API_KEYS is not set: the REST API accepts requests without a key');
  if (!config.auth.webhookTokens) logger.warn('WEBHOOK_TOKENS is not set: webhooks are accepted without a token');
  if (!config.finbox.credentials) logger.warn('FINBOX_API_KEY / FINBOX_SERVER_HASH not set: polling FinBox is disabled');
}
