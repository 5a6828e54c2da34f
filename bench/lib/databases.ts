/**
 * The benchmark's Postgres: the server of BENCH_DATABASE_URL / DATABASE_URL /
 * the machine default, or an embedded one when none answers. Every database
 * the benchmark makes is named finbox_bench_<pid>_<purpose> and dropped at the
 * end (leftovers of a killed run are dropped by the next one).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../../src/database/data-source-options.js';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../src/database/embedded-postgres.mjs';
import { runMigrations } from '../../src/database/migrate.js';

export interface Server {
  /** URL of the server's maintenance connection (the database given, or `postgres`). */
  adminUrl: string;
  /** How the server was found, for BENCHMARKS.md. */
  origin: string;
  version: string;
  settings: Record<string, string>;
  embedded?: EmbeddedDatabase;
  /** Local server (its processes can be measured in /proc). */
  local: boolean;
}

const PREFIX = 'finbox_bench_';
const created = new Set<string>();
let server: Server | undefined;

export function urlFor(adminUrl: string, database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

async function tryConnect(url: string): Promise<pg.Client | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    return client;
  } catch {
    await client.end().catch(() => undefined);
    return undefined;
  }
}

export async function openServer(url: string, source: string, log: (line: string) => void): Promise<Server> {
  let adminUrl = url;
  let origin = `${source}: ${redact(url)}`;
  let embedded: EmbeddedDatabase | undefined;
  let client = await tryConnect(url);
  if (!client) {
    log(`Postgres at ${redact(url)} (${source}) does not answer: starting the embedded Postgres (src/database/embedded-postgres.mjs)`);
    embedded = await startEmbeddedPostgres({
      dataDir: mkdtempSync(join(tmpdir(), 'finbox-bench-pg-')),
      persistent: false,
      database: 'postgres',
    });
    adminUrl = embedded.url;
    origin = `embedded Postgres (startEmbeddedPostgres, temporary data directory; ${source} ${redact(url)} did not answer)`;
    client = await tryConnect(adminUrl);
    if (!client) throw new Error('The embedded Postgres does not answer either');
  }
  try {
    const version = (await client.query<{ version: string }>('SELECT version()')).rows[0].version;
    const names = ['max_connections', 'shared_buffers', 'synchronous_commit', 'fsync', 'wal_level', 'work_mem', 'max_wal_size', 'checkpoint_timeout'];
    const { rows } = await client.query<{ name: string; setting: string; unit: string | null }>(
      'SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1)',
      [names],
    );
    const settings = Object.fromEntries(rows.map((row) => [row.name, row.unit ? `${row.setting} (${row.unit})` : row.setting]));
    const host = new URL(adminUrl).hostname;
    const local = ['127.0.0.1', 'localhost', '::1', ''].includes(host) || host.startsWith('/');
    server = { adminUrl, origin, version, settings, embedded, local };
    if (local) await dropLeftovers(client);
    return server;
  } finally {
    await client.end();
  }
}

/** Databases of earlier runs that were killed before their clean-up (their process is gone). */
async function dropLeftovers(client: pg.Client): Promise<void> {
  const { rows } = await client.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname ~ '^finbox_bench_[0-9]+_'`);
  for (const { datname } of rows) {
    const pid = Number(/^finbox_bench_(\d+)_/.exec(datname)?.[1]);
    if (pid === process.pid || alive(pid)) continue;
    await client.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`).catch(() => undefined);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

export async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

function requireServer(): Server {
  if (!server) throw new Error('openServer() first');
  return server;
}

export function databaseName(purpose: string): string {
  return `${PREFIX}${process.pid}_${purpose}`;
}

/** Creates an empty database and migrates it with the service's own migrations (as a first start would). */
export async function createMigratedDatabase(purpose: string): Promise<string> {
  const { adminUrl } = requireServer();
  const name = databaseName(purpose);
  await withClient(adminUrl, async (admin) => {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${name}`);
  });
  created.add(name);
  const url = urlFor(adminUrl, name);
  const dataSource = new DataSource(dataSourceOptions(url, 2));
  await dataSource.initialize();
  try {
    await runMigrations(dataSource);
  } finally {
    await dataSource.destroy();
  }
  return url;
}

export async function dropDatabase(name: string): Promise<void> {
  const { adminUrl } = requireServer();
  await withClient(adminUrl, (admin) => admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  created.delete(name);
}

/** Drops every database this run created, then stops the embedded Postgres if one was started. */
export async function dropAll(): Promise<void> {
  if (!server) return;
  for (const name of [...created]) await dropDatabase(name).catch(() => undefined);
  if (server.embedded) await server.embedded.stop().catch(() => undefined);
  server = undefined;
}
