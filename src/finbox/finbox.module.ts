import { HttpModule } from '@nestjs/axios';
import { Module } from '@nestjs/common';
import { FinboxController } from './finbox.controller.js';
import { FinboxClient } from './finbox.client.js';
import { WebhookRegistrationService } from './webhook-registration.service.js';

@Module({
  imports: [HttpModule],
  controllers: [FinboxController],
  providers: [FinboxClient, WebhookRegistrationService],
  exports: [FinboxClient, WebhookRegistrationService],
})
export class FinboxModule {}
