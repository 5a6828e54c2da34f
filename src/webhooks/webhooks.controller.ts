import { Body, Controller, Headers, HttpCode, Post, UseGuards } from '@nestjs/common';
import { ApiBody, ApiHeader, ApiOkResponse, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { WebhookTokenGuard } from './webhook-token.guard.js';
import { ApiErrors } from '../common/api-docs.js';
import { AppError, ErrorCode } from '../common/errors.js';
import { SessionsService } from '../sessions/sessions.service.js';

class WebhookAck {
  message: 'success';
}

@ApiTags('webhooks')
@Controller('v1/webhooks/finbox')
@UseGuards(WebhookTokenGuard)
export class WebhooksController {
  constructor(private readonly sessions: SessionsService) {}

  @Post()
  @HttpCode(200)
  @ApiOperation({
    summary: 'FinBox webhook receiver',
    description:
      'Completion (SESSION_REQUIREMENT_COMPLETION_NOTIFICATION or SESSION_COMPLETION_NOTIFICATION), expiry ' +
      '(SESSION_EXPIRY_NOTIFICATION) and enrichment (ENRICHMENT_NOTIFICATION) events. Stored durably before the 200; ' +
      'a redelivery changes nothing; an unknown event or an invalid payload is stored and its session polled at once.',
  })
  @ApiHeader({ name: 'x-webhook-token', required: false, description: 'One of WEBHOOK_TOKENS (or use ?token=)' })
  @ApiQuery({ name: 'token', required: false, description: 'One of WEBHOOK_TOKENS (redacted in logs)' })
  @ApiBody({ schema: { type: 'object', additionalProperties: true, required: ['session_id', 'event_name'] } })
  @ApiOkResponse({ schema: { type: 'object', properties: { message: { type: 'string', example: 'success' } } } })
  @ApiErrors(
    ErrorCode.VALIDATION_FAILED,
    ErrorCode.MALFORMED_JSON,
    ErrorCode.UNAUTHORIZED,
    ErrorCode.PAYLOAD_TOO_LARGE,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    ErrorCode.SERVICE_UNAVAILABLE,
  )
  async receive(@Body() body: unknown, @Headers('content-type') contentType?: string): Promise<WebhookAck> {
    if (!/^application\/json\b/i.test(contentType ?? '')) {
      throw new AppError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, 'The request body must be application/json');
    }
    await this.sessions.receiveWebhook(body);
    return { message: 'success' };
  }
}
