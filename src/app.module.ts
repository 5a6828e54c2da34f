import { DynamicModule, Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { LoggerModule } from 'nestjs-pino';
import type { Logger as PinoLogger } from 'pino';
import { loggerModuleOptions } from './common/logging.js';
import { type AppConfig, configModule } from './config/configuration.js';
import { DatabaseModule } from './database/database.module.js';
import { FinboxModule } from './finbox/finbox.module.js';
import { HealthModule } from './health/health.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { ReconcilerModule } from './reconciler/reconciler.module.js';
import { SessionsModule } from './sessions/sessions.module.js';
import { WebhooksModule } from './webhooks/webhooks.module.js';

@Module({})
export class AppModule {
  /** The whole service, configured by an already validated AppConfig (see config/configuration.ts), logging through `logger`. */
  static forRoot(config: AppConfig, logger: PinoLogger): DynamicModule {
    return {
      module: AppModule,
      imports: [
        configModule(config),
        LoggerModule.forRoot(loggerModuleOptions(logger)),
        ScheduleModule.forRoot(),
        MetricsModule,
        DatabaseModule,
        FinboxModule,
        SessionsModule,
        WebhooksModule,
        ReconcilerModule,
        HealthModule,
      ],
    };
  }
}
