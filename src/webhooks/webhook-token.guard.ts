import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { FastifyRequest } from 'fastify';
import { AppError, ErrorCode } from '../common/errors.js';
import type { AppConfig } from '../config/configuration.js';
import { matchesAny } from '../auth/secrets.js';

/** FinBox's calls carry a token of WEBHOOK_TOKENS in `x-webhook-token` or `?token=` (redacted from logs). */
@Injectable()
export class WebhookTokenGuard implements CanActivate {
  private readonly tokens: string[] | undefined;

  constructor(config: ConfigService<AppConfig, true>) {
    this.tokens = config.get('auth', { infer: true }).webhookTokens;
  }

  canActivate(context: ExecutionContext): boolean {
    if (!this.tokens) return true; // WEBHOOK_TOKENS unset outside production: open, warned at start-up
    const request = context.switchToHttp().getRequest<FastifyRequest<{ Querystring: { token?: unknown } }>>();
    const header = request.headers['x-webhook-token'];
    const query = request.query?.token;
    const token = typeof header === 'string' ? header : typeof query === 'string' ? query : undefined;
    if (matchesAny(token, this.tokens)) return true;
    throw new AppError(ErrorCode.UNAUTHORIZED, 'A valid webhook token is required (x-webhook-token or ?token=)');
  }
}
