import { Controller, Put, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { ApiKeyGuard } from '../auth/api-key.guard.js';
import { ApiErrors } from '../common/api-docs.js';
import { ErrorCode } from '../common/errors.js';
import { type WebhookRegistration, WebhookRegistrationService } from './webhook-registration.service.js';

@ApiTags('finbox')
@ApiBearerAuth()
@ApiSecurity('api-key')
@Controller('v1/finbox')
@UseGuards(ApiKeyGuard)
export class FinboxController {
  constructor(private readonly registration: WebhookRegistrationService) {}

  @Put('webhook')
  @ApiOperation({ summary: 'Register PUBLIC_WEBHOOK_URL with FinBox (update_webhook, webhook_mode always sent)' })
  @ApiOkResponse({
    schema: {
      type: 'object',
      properties: {
        message: { type: 'string', example: 'success' },
        webhook_url: { type: 'string', example: 'https://reconciler.example.com/v1/webhooks/finbox?token=REDACTED' },
        webhook_mode: { type: 'integer', example: 1 },
        finbox_status: { type: 'integer', example: 200 },
        finbox_response: { type: 'object', additionalProperties: true },
      },
    },
  })
  @ApiErrors(ErrorCode.UNAUTHORIZED, ErrorCode.UPSTREAM_UNAVAILABLE, ErrorCode.NOT_CONFIGURED)
  registerWebhook(): Promise<WebhookRegistration> {
    return this.registration.register();
  }
}
