/**
 * Shared arrangements for the reconciler e2e tests (test/e2e/reconciler*.e2e-spec.ts):
 * the real app on its own database, the FinBox sandbox over real HTTP, and
 * direct reads of the sessions table for what the API does not show (the lease).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { startSandbox, type Sandbox, type SandboxOptions, type SessionSpec } from '../finbox-sandbox/sandbox.js';
import { startApp, WEBHOOK_TOKEN, type TestApp } from '../helpers/app.js';
import type { TestDatabase } from '../helpers/database.js';
import { ReconcilerService, type PassReport } from '../../src/reconciler/reconciler.service.js';
import { SessionsRepository } from '../../src/sessions/sessions.repository.js';

export { sleep };

export interface Harness {
  sandbox: Sandbox;
  sut: TestApp;
  /** One reconcile pass of `app` (default: sut). */
  pass(app?: TestApp): Promise<PassReport>;
  /** Sandbox session (webhooks dropped unless said otherwise) that the service tracks, registered through the API. */
  track(spec?: SessionSpec, reference?: string): Promise<string>;
  /** Another instance of the app on the same database and sandbox. */
  replica(env?: Record<string, string>): Promise<TestApp>;
  close(): Promise<void>;
}

/** The env that points the app at the sandbox, polling enabled, cron off. */
export function finboxEnv(sandbox: Sandbox): Record<string, string> {
  return {
    FINBOX_BASE_URL: sandbox.baseUrl,
    FINBOX_API_KEY: sandbox.apiKey,
    FINBOX_SERVER_HASH: sandbox.serverHash,
    FINBOX_MAX_RPS: '200',
    RECONCILE_GRACE_SECONDS: '0',
    LOG_LEVEL: 'silent',
  };
}

export async function startHarness(env: Record<string, string> = {}, sandboxOptions: SandboxOptions = {}): Promise<Harness> {
  const sandbox = await startSandbox({ webhookFaults: { drop: true }, ...sandboxOptions });
  const baseEnv = { ...finboxEnv(sandbox), ...env };
  let sut: TestApp;
  try {
    sut = await startApp(baseEnv);
  } catch (error) {
    await sandbox.close();
    throw error;
  }
  sandbox.setWebhookUrl(`${sut.url}/v1/webhooks/finbox?token=${WEBHOOK_TOKEN}`);
  const replicas: TestApp[] = [];
  return {
    sandbox,
    sut,
    pass: (app = sut) => app.app.get(ReconcilerService).runPass(),
    track: async (spec = {}, reference) => {
      const { session_id } = sandbox.createSession(spec);
      await register(sut, session_id, reference);
      return session_id;
    },
    replica: async (replicaEnv = {}) => {
      const app = await startApp({ ...baseEnv, ...replicaEnv }, sut.db);
      let closing: Promise<void> | undefined;
      const close = app.close;
      app.close = () => (closing ??= close()); // closing twice (a test, then the harness) closes once
      replicas.push(app);
      return app;
    },
    close: async () => {
      for (const app of replicas) await app.close().catch(() => undefined);
      await sut.close();
      await sandbox.close();
    },
  };
}

export async function register(app: TestApp, sessionId: string, reference?: string): Promise<void> {
  const response = await app.api('/v1/sessions', { method: 'POST', body: JSON.stringify({ session_id: sessionId, reference }) });
  if (response.status !== 201) throw new Error(`register ${sessionId}: HTTP ${response.status} ${await response.text()}`);
}

/** GET /v1/sessions/{id} */
export async function session(app: TestApp, sessionId: string): Promise<Record<string, any>> {
  const response = await app.api(`/v1/sessions/${sessionId}`);
  if (response.status !== 200) throw new Error(`GET session ${sessionId}: HTTP ${response.status}`);
  return (await response.json()) as Record<string, any>;
}

/** GET /v1/sessions/{id}/events, newest first. */
export async function events(app: TestApp, sessionId: string): Promise<Array<Record<string, any>>> {
  const response = await app.api(`/v1/sessions/${sessionId}/events`);
  if (response.status !== 200) throw new Error(`GET events ${sessionId}: HTTP ${response.status}`);
  return ((await response.json()) as { items: Array<Record<string, any>> }).items;
}

export interface SessionRow {
  session_id: string;
  status: string;
  next_poll_at: Date;
  last_polled_at: Date | null;
  poll_attempts: number;
  last_poll_error: string | null;
  lease_token: string | null;
  gave_up_at: Date | null;
  expires_at: Date | null;
  tracked_since: Date;
}

const clients = new WeakMap<TestDatabase, ReturnType<TestDatabase['client']>>();
/** One client per test database, closed by its drop(). */
function clientOf(db: TestDatabase): ReturnType<TestDatabase['client']> {
  let client = clients.get(db);
  if (!client) clients.set(db, (client = db.client()));
  return client;
}

/** GET /health/ready's body. */
export async function readiness(app: TestApp): Promise<Record<string, any>> {
  return (await (await fetch(`${app.url}/health/ready`)).json()) as Record<string, any>;
}

/** The sessions table itself (for the lease, which the API does not show), by session id. */
export async function rows(db: TestDatabase, ids?: string[]): Promise<Map<string, SessionRow>> {
  const client = await clientOf(db);
  const result = await client.query<SessionRow>(
    `SELECT session_id, status, next_poll_at, last_polled_at, poll_attempts, last_poll_error, lease_token, gave_up_at,
            expires_at, tracked_since
     FROM sessions WHERE $1::uuid[] IS NULL OR session_id = ANY($1::uuid[])`,
    [ids ?? null],
  );
  return new Map(result.rows.map((row) => [row.session_id, row]));
}

export async function row(db: TestDatabase, id: string): Promise<SessionRow> {
  const found = (await rows(db, [id])).get(id);
  if (!found) throw new Error(`no session row ${id}`);
  return found;
}

/** Runs SQL on the test database (arranging state). */
export async function query(db: TestDatabase, text: string, values: unknown[] = []): Promise<any[]> {
  const client = await clientOf(db);
  return (await client.query(text, values)).rows;
}

/** The value of one Prometheus sample from GET /metrics, or undefined when absent. */
export async function metric(app: TestApp, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const text = await (await fetch(`${app.url}/metrics`)).text();
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = match[2] ?? '';
    if (wanted.every((pair) => have.includes(pair))) return Number(match[3]);
  }
  return undefined;
}

/** Sessions the reconciler leases: the repository method itself, as a replica would call it. */
export function repositoryOf(app: TestApp): SessionsRepository {
  return app.app.get(SessionsRepository);
}

/** Waits until `check` returns a truthy value (or throws the last failure after `timeoutMs`). */
export async function eventually<T>(check: () => Promise<T | undefined | false>, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > until) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}

/** Runs `count` async jobs with at most `width` at once. */
export async function inParallel<T>(items: T[], width: number, job: (item: T) => Promise<unknown>): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: width }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) await job(item);
    }),
  );
}
