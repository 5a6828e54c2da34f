/**
 * What every suite shares: the repository root, the settings, the work folder
 * for logs, and how the service and the bare server are started.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Server } from './databases.js';
import { freePort } from '../../src/database/embedded-postgres.mjs';
import { startChild, type Child } from './processes.js';
import type { Settings } from './settings.js';

export const WEBHOOK_TOKEN = 'bench-webhook-token';
export const API_KEY = 'bench-api-key';

export interface Context {
  root: string;
  settings: Settings;
  server: Server;
  /** Logs, profiles: removed at the end unless BENCH_KEEP=1. */
  work: string;
  log(line: string): void;
}

/** Every variable the service reads is set here; inherited ones are dropped so the shell cannot change a run. */
const SERVICE_VARIABLE = /^(NODE_ENV|PORT|HOST|DATABASE_URL|DATABASE_POOL_SIZE|FINBOX_|WEBHOOK_|API_KEYS|PUBLIC_WEBHOOK_URL|RECONCILE_|LOG_LEVEL)/;

export function serviceEnvironment(databaseUrl: string, port: number, extra: Record<string, string> = {}): Record<string, string> {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter((entry): entry is [string, string] => entry[1] !== undefined && !SERVICE_VARIABLE.test(entry[0])),
  );
  return {
    ...inherited,
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: String(port),
    DATABASE_URL: databaseUrl,
    WEBHOOK_TOKENS: WEBHOOK_TOKEN,
    API_KEYS: API_KEY,
    LOG_LEVEL: 'info',
    RECONCILE_ENABLED: 'false',
    ...extra,
  };
}

/** The settings that differ from a production deployment's, shown in BENCHMARKS.md. */
export function describeServiceEnvironment(env: Record<string, string>): string {
  const keys = Object.keys(env).filter((key) => SERVICE_VARIABLE.test(key)).sort();
  return keys
    .map((key) => {
      const value = key === 'DATABASE_URL' ? env[key].replace(/\/[^/]*$/, '/<bench database>') : env[key];
      return `${key}=${/\s/.test(value) ? `'${value}'` : value}`;
    })
    .join(' ');
}

let serial = 0;

/** The Node flags of `npm start` (package.json), so that the service runs exactly as it starts in production. */
function startFlags(root: string): string[] {
  const start: string = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts.start;
  return start.split(/\s+/).filter((word) => word.startsWith('--'));
}

/** `node [npm start's flags] [nodeArgs] dist/src/main.js` in production mode, stdout (the pino log) to a file. */
export async function startService(
  context: Context,
  databaseUrl: string,
  extra: Record<string, string> = {},
  nodeArgs: string[] = [],
): Promise<{ child: Child; env: Record<string, string> }> {
  const port = await freePort();
  const env = serviceEnvironment(databaseUrl, port, extra);
  const name = `service-${++serial}`;
  const child = await startChild({
    name,
    args: [...startFlags(context.root), ...nodeArgs, join(context.root, 'dist/src/main.js')],
    env,
    cwd: context.root,
    stdoutPath: join(context.work, `${name}.stdout.log`),
    stderrPath: join(context.work, `${name}.stderr.log`),
    port,
    readyPath: '/health/ready',
  });
  return { child, env };
}

export async function startBare(context: Context, databaseUrl: string, nodeArgs: string[] = []): Promise<Child> {
  const port = await freePort();
  const name = `bare-${++serial}`;
  return startChild({
    name,
    args: [...nodeArgs, join(context.root, 'dist/bench/bare-server.js')],
    env: {
      ...(process.env as Record<string, string>),
      BARE_DATABASE_URL: databaseUrl,
      PORT: String(port),
      BARE_POOL_SIZE: '20',
      BARE_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
      BARE_API_KEY: API_KEY,
    },
    cwd: context.root,
    stdoutPath: join(context.work, `${name}.stdout.log`),
    stderrPath: join(context.work, `${name}.stderr.log`),
    port,
    readyPath: '/health',
  });
}
