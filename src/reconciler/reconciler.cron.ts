import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { SchedulerRegistry } from '@nestjs/schedule';
import { CronJob } from 'cron';
import type { AppConfig } from '../config/configuration.js';
import { ReconcilerService } from './reconciler.service.js';

/** What runs every RECONCILE_CRON tick (every 30 s by default): one reconcile pass, unless one is still running. */
@Injectable()
export class ReconcilerCron implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(ReconcilerCron.name);
  private readonly config: AppConfig['reconcile'];

  constructor(
    private readonly reconciler: ReconcilerService,
    private readonly scheduler: SchedulerRegistry,
    config: ConfigService<AppConfig, true>,
  ) {
    this.config = config.get('reconcile', { infer: true });
  }

  onApplicationBootstrap(): void {
    if (!this.config.enabled) {
      this.logger.log('Reconciler disabled in this process (RECONCILE_ENABLED=false)');
      return;
    }
    const job = CronJob.from({
      cronTime: this.config.cron,
      onTick: () => void this.reconciler.runPass().catch((error) => this.logger.error({ err: error }, 'Reconcile pass crashed')),
      start: true,
    });
    this.scheduler.addCronJob('reconcile', job);
  }

  async onModuleDestroy(): Promise<void> {
    if (this.scheduler.doesExist('cron', 'reconcile')) this.scheduler.deleteCronJob('reconcile');
    await this.reconciler.stop();
  }
}
