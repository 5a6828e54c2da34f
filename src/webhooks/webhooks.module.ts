import { Module } from '@nestjs/common';
import { SessionsModule } from '../sessions/sessions.module.js';
import { WebhooksController } from './webhooks.controller.js';

@Module({ imports: [SessionsModule], controllers: [WebhooksController] })
export class WebhooksModule {}
