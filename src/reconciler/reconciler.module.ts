import { Module } from '@nestjs/common';
import { FinboxModule } from '../finbox/finbox.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { ReconcilerCron } from './reconciler.cron.js';
import { ReconcilerService } from './reconciler.service.js';

@Module({
  imports: [SessionsModule, FinboxModule],
  providers: [ReconcilerService, ReconcilerCron],
  exports: [ReconcilerService],
})
export class ReconcilerModule {}
