import { randomUUID } from 'node:crypto';
import type { TestApp } from './app.js';

/** Helpers for tests of the REST API (GET/POST /v1/sessions…). */

/** ISO 8601 UTC with milliseconds, as every timestamp of the API (CONTRACT §3). */
export const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
export const DATE = /^\d{4}-\d{2}-\d{2}$/;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export async function body(response: Response): Promise<Json> {
  return (await response.json()) as Json;
}

/** Asserts the error envelope of CONTRACT §4 and returns it. */
export async function expectError(response: Response, status: number, code: string): Promise<Json> {
  const text = await response.text();
  expect({ status: response.status, text }).toEqual({ status, text: expect.any(String) });
  const parsed = JSON.parse(text) as Json;
  expect(parsed).toEqual({ error: { code, message: expect.any(String), details: expect.any(Array) } });
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  return parsed;
}

/** POST /v1/sessions; returns the status and the session. */
export async function register(sut: TestApp, payload: Record<string, unknown> = {}): Promise<{ status: number; session: Json }> {
  const response = await sut.api('/v1/sessions', {
    method: 'POST',
    body: JSON.stringify({ session_id: randomUUID(), ...payload }),
  });
  const session = await body(response);
  if (response.status !== 201 && response.status !== 200) throw new Error(`register: ${response.status} ${JSON.stringify(session)}`);
  return { status: response.status, session };
}

export async function getSession(sut: TestApp, sessionId: string): Promise<Json> {
  const response = await sut.api(`/v1/sessions/${sessionId}`);
  expect(response.status).toBe(200);
  return body(response);
}

export interface FeedRead {
  items: Json[];
  /** Every next_cursor received, in order. */
  cursors: string[];
  /** resume_cursor of the last page: where to continue later. */
  resume: string | null;
  pages: number;
}

/**
 * A change-feed consumer: GET /v1/sessions from `cursor`, following next_cursor
 * until it is null. `between` runs after each page (to interleave writes).
 */
export async function readFeed(
  sut: TestApp,
  options: { cursor?: string | null; limit?: number; query?: string; between?: (page: number) => Promise<void> } = {},
): Promise<FeedRead> {
  const read: FeedRead = { items: [], cursors: [], resume: options.cursor ?? null, pages: 0 };
  let cursor = options.cursor ?? null;
  for (;;) {
    const params = new URLSearchParams(options.query ?? '');
    params.set('limit', String(options.limit ?? 100));
    if (cursor) params.set('cursor', cursor);
    const response = await sut.api(`/v1/sessions?${params}`);
    const page = await body(response);
    if (response.status !== 200) throw new Error(`list: ${response.status} ${JSON.stringify(page)}`);
    read.pages++;
    read.items.push(...page.items);
    read.resume = page.resume_cursor ?? read.resume;
    if (!page.next_cursor) return read;
    read.cursors.push(page.next_cursor);
    cursor = page.next_cursor;
    await options.between?.(read.pages);
    if (read.pages > 10_000) throw new Error('the feed does not end');
  }
}

/** "session:<change_xid>:<session_id>" → the position (tests may look inside: it is this service's own format). */
export function cursorPosition(cursor: string): { xid: bigint; sessionId: string } {
  const [kind, xid, sessionId] = Buffer.from(cursor, 'base64url').toString('utf8').split(':');
  expect(kind).toBe('session');
  return { xid: BigInt(xid), sessionId };
}

/** Retries `probe` until it returns a value other than undefined (or the time is up, then throws). */
export async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Waits until the change feed serves every one of `sessionIds` (the feed only
 * serves writes older than every running transaction of the cluster, so a
 * write can take a moment to appear while other transactions run).
 */
export async function feedServes(sut: TestApp, sessionIds: string[], query = ''): Promise<FeedRead> {
  return eventually(
    async () => {
      const read = await readFeed(sut, { query, limit: 500 });
      const served = new Set(read.items.map((item) => item.session_id));
      return sessionIds.every((id) => served.has(id)) ? read : undefined;
    },
    10_000,
    `the feed to serve ${sessionIds.length} sessions`,
  );
}

export function countBy<T>(values: T[]): Map<T, number> {
  const counts = new Map<T, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return counts;
}
