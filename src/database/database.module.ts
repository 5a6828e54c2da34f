import { Global, Injectable, Logger, Module, OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { InjectDataSource, TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { AppConfig } from '../config/configuration.js';
import { dataSourceOptions } from './data-source-options.js';
import { runMigrations } from './migrate.js';
import { Sql } from './sql.js';

/** Applies pending migrations before anything else uses the database. */
@Injectable()
class MigrateOnStart implements OnModuleInit {
  private readonly logger = new Logger('Database');

  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async onModuleInit(): Promise<void> {
    const applied = await runMigrations(this.dataSource);
    this.logger.log(applied.length ? `Applied migrations: ${applied.join(', ')}` : 'Schema up to date');
  }
}

@Global()
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [ConfigService],
      useFactory: (config: ConfigService<AppConfig, true>) => {
        const { url, poolSize } = config.get('database', { infer: true });
        if (!url) throw new Error('No database URL: main.ts starts an embedded Postgres when DATABASE_URL is unset');
        return { ...dataSourceOptions(url, poolSize), retryAttempts: 5, retryDelay: 2_000 };
      },
    }),
  ],
  providers: [MigrateOnStart, Sql],
  exports: [Sql],
})
export class DatabaseModule {}
