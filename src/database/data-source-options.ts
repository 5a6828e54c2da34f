import pg from 'pg';
import type { DataSourceOptions } from 'typeorm';
import { AccountEntity } from '../sessions/account.entity.js';
import { SessionEventEntity } from '../sessions/session-event.entity.js';
import { SessionEntity } from '../sessions/session.entity.js';
import { StatementEntity } from '../sessions/statement.entity.js';
import { MIGRATIONS } from './migrations/index.js';

// DATE columns are calendar days, not instants: keep them as 'YYYY-MM-DD' strings.
pg.types.setTypeParser(pg.types.builtins.DATE, (value) => value);

export const ENTITIES = [SessionEntity, AccountEntity, StatementEntity, SessionEventEntity];

/** The one place the database options are built: the app (DatabaseModule) and the TypeORM CLI (ormconfig.ts) both use it. */
export function dataSourceOptions(url: string, poolSize = 10): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsTableName: 'migrations',
    synchronize: false,
    migrationsRun: false,
    extra: {
      max: poolSize,
      connectionTimeoutMillis: 5_000,
      idleTimeoutMillis: 30_000,
      application_name: 'finbox-session-reconciler',
    },
  };
}
