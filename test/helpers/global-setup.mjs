/**
 * Jest globalSetup (plain JS: it runs outside Jest's TypeScript transform).
 * Tests use the Postgres server of DATABASE_URL; when it is unset, an embedded
 * Postgres is started for the run and DATABASE_URL points at it. Each test
 * file then works in its own database (test/helpers/database.ts).
 */
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { alive, startEmbeddedPostgres } from '../../src/database/embedded-postgres.mjs';

export default async function globalSetup() {
  process.env.TEST_RUN_ID = `${process.pid}x${randomBytes(2).toString('hex')}`;
  if (process.env.DATABASE_URL) {
    await dropLeftovers(process.env.DATABASE_URL);
    return;
  }
  const server = await startEmbeddedPostgres({
    dataDir: join(tmpdir(), `reconciler-test-${process.env.TEST_RUN_ID}`),
    persistent: false,
    database: 'postgres',
    postgresFlags: ['-c', 'fsync=off'],
  });
  process.env.DATABASE_URL = server.url;
  globalThis.__embeddedTestPostgres = server;
}

/** Databases of earlier runs that were killed before their teardown (their process is gone). */
async function dropLeftovers(url) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const { rows } = await client.query(`SELECT datname FROM pg_database WHERE datname ~ '^reconciler_(t|tpl)_[0-9]+x'`);
  for (const { datname } of rows) {
    const pid = Number(/_(\d+)x/.exec(datname)[1]);
    if (!alive(pid)) await client.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`).catch(() => undefined);
  }
  await client.end();
}
