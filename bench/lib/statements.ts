/**
 * The service's own SQL, obtained from its own code (not copied): the
 * repository is given a stand-in for `Sql` that records each statement, or
 * runs it on a client of the benchmark's choosing. So the EXPLAINs and the
 * lease timings follow src/ as it changes.
 */
import type pg from 'pg';
import { loadConfig, type AppConfig } from '../../src/config/configuration.js';
import { SessionsRepository } from '../../src/sessions/sessions.repository.js';
import { SessionsService } from '../../src/sessions/sessions.service.js';

export interface Statement {
  text: string;
  values: unknown[];
}

type SqlLike = { rows<T>(text: string, values?: unknown[]): Promise<T[]> };

/** A SessionsRepository whose every statement runs on `client` (and is remembered in `last`). */
export function repositoryOn(client: pg.Client): { repository: SessionsRepository; last: () => Statement | undefined } {
  let last: Statement | undefined;
  const sql: SqlLike = {
    async rows<T>(text: string, values: unknown[] = []) {
      last = { text, values };
      return (await client.query(text, values)).rows as T[];
    },
  };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return { repository: new SessionsRepository(sql as any), last: () => last };
}

/** A metrics stand-in: every metric is a no-op. */
const noMetrics = new Proxy({} as Record<string, unknown>, {
  get: (target, key) => (key in target ? target[key as string] : { inc() {}, observe() {}, set() {}, labels: () => ({ inc() {}, observe() {}, set() {} }) }),
  set: (target, key, value) => {
    target[key as string] = value;
    return true;
  },
});

/**
 * The exact statement(s) SessionsService.receiveWebhook sends for `body`,
 * captured without touching a database (the stand-in answers like a fresh insert).
 */
export async function captureWebhookStatements(body: unknown, env: Record<string, string>): Promise<Statement[]> {
  const config = loadConfig({ NODE_ENV: 'development', LOG_LEVEL: 'silent', ...env });
  const captured: Statement[] = [];
  const sql: SqlLike = {
    async rows<T>(text: string, values: unknown[] = []) {
      captured.push({ text, values });
      return [{ event_id: '1', fresh: true, created: true, status: 'COMPLETED', completed_via: 'webhook', completed_now: true }] as T[];
    },
  };
  const configService = { get: (key: keyof AppConfig) => config[key] };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const repository = new SessionsRepository(sql as any);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const service = new SessionsService(repository, {} as any, noMetrics as any, configService as any);
  await service.receiveWebhook(body);
  return captured;
}

/** EXPLAIN (ANALYZE, BUFFERS) of a statement, inside a transaction that is rolled back. */
export async function explainAnalyze(client: pg.Client, statement: Statement): Promise<{ plan: string; executionMs: number | null }> {
  await client.query('BEGIN');
  try {
    const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${statement.text}`, statement.values);
    const plan = rows.map((row) => row['QUERY PLAN']).join('\n');
    const match = /Execution Time: ([\d.]+) ms/.exec(plan);
    return { plan, executionMs: match ? Number(match[1]) : null };
  } finally {
    await client.query('ROLLBACK');
  }
}
