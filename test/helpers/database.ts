import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../../src/database/data-source-options.js';
import { runMigrations } from '../../src/database/migrate.js';

/**
 * A database of its own for each test file: a clone of a template database
 * that is migrated once per test run (by whichever test file gets there first).
 */
export interface TestDatabase {
  url: string;
  name: string;
  /** A client on the test database, for arranging and asserting state directly. */
  client(): Promise<pg.Client>;
  drop(): Promise<void>;
}

const TEMPLATE_LOCK = 7_302_419_002;

function serverUrl(database?: string): string {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL is unset: the jest globalSetup (test/helpers/global-setup.mjs) did not run');
  if (!database) return url;
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

const runId = () => process.env.TEST_RUN_ID ?? String(process.pid);

async function withAdmin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: serverUrl() });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Creates and migrates the run's template database once, whichever worker asks first. */
async function ensureTemplate(): Promise<string> {
  const template = `reconciler_tpl_${runId()}`;
  await withAdmin(async (admin) => {
    await admin.query('SELECT pg_advisory_lock($1)', [TEMPLATE_LOCK]);
    try {
      const { rows } = await admin.query(
        `SELECT shobj_description(oid, 'pg_database') AS note FROM pg_database WHERE datname = $1`,
        [template],
      );
      if (rows[0]?.note === 'migrated') return;
      if (rows.length === 0) await admin.query(`CREATE DATABASE ${template}`);
      const dataSource = new DataSource(dataSourceOptions(serverUrl(template), 2));
      await dataSource.initialize();
      await runMigrations(dataSource);
      await dataSource.destroy();
      await admin.query(`COMMENT ON DATABASE ${template} IS 'migrated'`);
    } finally {
      await admin.query('SELECT pg_advisory_unlock($1)', [TEMPLATE_LOCK]);
    }
  });
  return template;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const template = await ensureTemplate();
  const name = `reconciler_t_${runId()}_${randomBytes(4).toString('hex')}`;
  await withAdmin(async (admin) => {
    // A template cannot be copied while another copy of it is being made: retry briefly.
    for (let attempt = 0; ; attempt++) {
      try {
        await admin.query(`CREATE DATABASE ${name} TEMPLATE ${template}`);
        return;
      } catch (error) {
        if (attempt >= 50 || !/being accessed by other users/.test(String(error))) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 100));
      }
    }
  });
  const url = serverUrl(name);
  // TypeORM keys its metadata by database name: a clone still carries the template's.
  const fix = new pg.Client({ connectionString: url });
  await fix.connect();
  await fix.query('UPDATE typeorm_metadata SET database = current_database()');
  await fix.end();
  const clients: pg.Client[] = [];
  return {
    url,
    name,
    async client() {
      const client = new pg.Client({ connectionString: url });
      client.on('error', () => undefined); // a test may terminate its backend on purpose
      await client.connect();
      clients.push(client);
      return client;
    },
    async drop() {
      await Promise.all(clients.map((client) => client.end().catch(() => undefined)));
      await withAdmin((admin) => admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}
