import { Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { AppError, ErrorCode } from '../common/errors.js';
import { redactUrl } from '../common/logging.js';
import type { AppConfig } from '../config/configuration.js';
import { FinboxClient } from './finbox.client.js';
import { FinboxError } from './finbox.errors.js';

export interface WebhookRegistration {
  message: string;
  /** PUBLIC_WEBHOOK_URL with any token in its query (and any user:password) replaced by "REDACTED". */
  webhook_url: string;
  webhook_mode: number;
  finbox_status: number;
  finbox_response: unknown;
}

/** Registers PUBLIC_WEBHOOK_URL with FinBox (PUT /v1/finbox/webhook and `npm run finbox:register-webhook`). */
@Injectable()
export class WebhookRegistrationService {
  private readonly logger = new Logger(WebhookRegistrationService.name);
  private readonly config: AppConfig['finbox'];

  constructor(
    private readonly finbox: FinboxClient,
    config: ConfigService<AppConfig, true>,
  ) {
    this.config = config.get('finbox', { infer: true });
  }

  async register(): Promise<WebhookRegistration> {
    const url = this.config.publicWebhookUrl;
    if (!url) throw new AppError(ErrorCode.NOT_CONFIGURED, 'PUBLIC_WEBHOOK_URL is not set');
    if (!this.finbox.enabled) throw new AppError(ErrorCode.NOT_CONFIGURED, 'FINBOX_API_KEY and FINBOX_SERVER_HASH are not set');
    try {
      const result = await this.finbox.updateWebhook(url, this.config.webhookMode);
      this.logger.log(`Registered the webhook URL with FinBox (mode ${this.config.webhookMode})`);
      return {
        message: 'success',
        webhook_url: redactUrl(url),
        webhook_mode: this.config.webhookMode,
        finbox_status: result.status,
        finbox_response: result.raw,
      };
    } catch (error) {
      if (error instanceof FinboxError) {
        throw new AppError(ErrorCode.UPSTREAM_UNAVAILABLE, `FinBox did not accept the webhook registration: ${error.message}`);
      }
      throw error;
    }
  }
}

