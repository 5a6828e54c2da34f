import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const DIR = join(process.cwd(), 'test', 'fixtures', 'finbox');

/** A FinBox payload from test/fixtures/finbox (a fresh copy each call). */
export function fixture<T = Record<string, any>>(name: string): T {
  return JSON.parse(readFileSync(join(DIR, `${name}.json`), 'utf8')) as T;
}

/** The same payload for another session id. */
export function withSession<T extends { session_id?: string }>(payload: T, sessionId: string): T {
  return { ...payload, session_id: sessionId };
}
