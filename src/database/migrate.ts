import type { DataSource } from 'typeorm';

/** Any constant shared by all replicas; the lock serialises concurrent start-ups. */
const MIGRATION_LOCK_KEY = 7_302_419_001;

/**
 * Applies pending migrations in one transaction, holding a Postgres advisory lock
 * so that several replicas starting at once apply them exactly once (the others
 * wait, then find nothing pending). The lock is taken on one dedicated connection,
 * so start-up needs a direct or session-pooled connection, not PgBouncer's
 * transaction mode; nothing else in the service relies on advisory locks.
 */
export async function runMigrations(dataSource: DataSource): Promise<string[]> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    const applied = await dataSource.runMigrations({ transaction: 'all' });
    return applied.map((migration) => migration.name);
  } finally {
    await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    await runner.release();
  }
}
