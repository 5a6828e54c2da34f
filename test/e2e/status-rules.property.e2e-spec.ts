import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { parseUploadStatus } from '../../src/finbox/finbox-payload.js';
import { FinboxError } from '../../src/finbox/finbox.errors.js';
import { type PollAnswer, SessionsService } from '../../src/sessions/sessions.service.js';
import { startApp, type TestApp } from '../helpers/app.js';

/**
 * Property: any sequence of completion, expiry, enrichment and unknown
 * webhooks and poll answers for one session, with duplicates, in any order,
 * ends in the state the rules of CONTRACT §3 define — applied one after the
 * other, and all at once (webhooks through the HTTP endpoint, polls through the
 * reconciler's apply path).
 */

const T1 = '2025-11-13 06:48:44';
const T2 = '2025-11-13 07:10:00';
const ACCOUNT_ID = 'd35b9df1-871d-43d1-b6c1-67ded2c2e8e5';

/** FinBox's account at two moments: v1 while uploading, v2 once complete. */
function account(version: 1 | 2, masked: boolean, statementDates: 'dmy' | 'iso') {
  const created = statementDates === 'dmy' ? '2025-11-13 06:48:43.660968+00:00' : '2025-11-13T06:48:43.660968Z';
  const statements = [
    { statement_id: 's1', statement_status: version === 1 ? 'processing' : 'completed', error_code: null, error_message: '', source: 'pdf', created_at: created },
  ];
  if (version === 2) statements.push({ ...statements[0], statement_id: 's2', created_at: '2025-11-13 07:05:00' });
  return {
    account_id: ACCOUNT_ID,
    account_number: masked ? 'XXXXXXXXXXXX3135' : '924010040573135',
    bank_name: 'axis',
    account_status: version === 1 ? 'PARTIAL' : 'COMPLETED',
    months: version === 1 ? ['2025-08', '2025-09'] : ['2025-08', '2025-09', '2025-10'],
    created_at: T1,
    last_updated_at: version === 1 ? T1 : T2,
    statements,
  };
}

type Kind =
  | 'webhook:completion:v1'
  | 'webhook:completion:v2'
  | 'webhook:expiry:v1'
  | 'webhook:enrichment'
  | 'webhook:unknown'
  | 'poll:NO_UPLOAD'
  | 'poll:IN_PROGRESS:v1'
  | 'poll:COMPLETED:v2'
  | 'poll:EXPIRED:v1'
  | 'poll:404'
  | 'poll:410'
  | 'poll:503';
const KINDS: Kind[] = [
  'webhook:completion:v1',
  'webhook:completion:v2',
  'webhook:expiry:v1',
  'webhook:enrichment',
  'webhook:unknown',
  'poll:NO_UPLOAD',
  'poll:IN_PROGRESS:v1',
  'poll:COMPLETED:v2',
  'poll:EXPIRED:v1',
  'poll:404',
  'poll:410',
  'poll:503',
];

const version = (kind: Kind): 1 | 2 | null => (kind.endsWith(':v1') ? 1 : kind.endsWith(':v2') ? 2 : null);
const completes = (kind: Kind) => /completion|enrichment|COMPLETED/.test(kind);
const expires = (kind: Kind) => /expiry|EXPIRED/.test(kind);
const confirms = (kind: Kind) => kind.startsWith('webhook:') || /^poll:[A-Z]/.test(kind);

/** What the rules say the session looks like after these events (in this order, for completed_via). */
function expected(kinds: Kind[]) {
  const has = (test: (kind: Kind) => boolean) => kinds.some(test);
  let status = 'NO_UPLOAD';
  if (has((k) => k === 'poll:410')) status = 'DELETED';
  else if (has(completes)) status = 'COMPLETED';
  else if (has(expires)) status = 'EXPIRED';
  else if (has((k) => k === 'poll:IN_PROGRESS:v1')) status = 'IN_PROGRESS';
  else if (!has(confirms) && has((k) => k === 'poll:404')) status = 'NOT_FOUND';

  const versions = kinds.map(version).filter((v): v is 1 | 2 => v !== null);
  const newest = versions.length ? Math.max(...versions) : null;
  const unmasked = kinds.some((k) => k.startsWith('poll:') && version(k) !== null);
  const accounts =
    newest === null
      ? []
      : [
          {
            account_id: ACCOUNT_ID,
            account_number: unmasked ? '924010040573135' : 'XXXXXXXXXXXX3135',
            account_status: newest === 1 ? 'PARTIAL' : 'COMPLETED',
            months: newest === 1 ? ['2025-08', '2025-09'] : ['2025-08', '2025-09', '2025-10'],
            last_updated_at: newest === 1 ? '2025-11-13T06:48:44.000Z' : '2025-11-13T07:10:00.000Z',
            statements: newest === 1 ? [['s1', 'processing']] : [['s1', 'completed'], ['s2', 'completed']],
          },
        ];
  const firstCompletion = kinds.find(completes);
  return {
    status,
    completed_via: firstCompletion ? (firstCompletion.startsWith('poll:') ? 'poll' : 'webhook') : null,
    expired: has(expires),
    deleted: has((k) => k === 'poll:410'),
    enrichment: has((k) => k === 'webhook:enrichment'),
    expires_at: has((k) => /^poll:[A-Z]/.test(k)) ? '2025-11-13T07:48:34.000Z' : null,
    poll_attempts: kinds.filter((k) => k.startsWith('poll:')).length,
    accounts,
  };
}

describe('status rules hold for any order of any events', () => {
  let sut: TestApp;

  beforeAll(async () => {
    sut = await startApp();
  });
  afterAll(async () => {
    await sut.close();
  });

  function webhookBody(kind: Kind, sessionId: string) {
    const [, event, v] = kind.split(':');
    if (event === 'enrichment') {
      return {
        session_id: sessionId,
        event_name: 'ENRICHMENT_NOTIFICATION',
        insights_available: true,
        accounts: [{ account_id: ACCOUNT_ID, account_status: 'completed', error_code: '', error_message: '' }],
      };
    }
    if (event === 'unknown') return { session_id: sessionId, event_name: 'SESSION_NEW_KIND_NOTIFICATION' };
    return {
      session_id: sessionId,
      event_name: event === 'completion' ? 'SESSION_REQUIREMENT_COMPLETION_NOTIFICATION' : 'SESSION_EXPIRY_NOTIFICATION',
      message: event === 'completion' ? 'Upload Completed' : 'Session expired',
      accounts: [account(v === 'v1' ? 1 : 2, true, 'dmy')],
      session_date_range: { from_date: '11/08/2025', to_date: '11/11/2025' },
    };
  }

  function pollAnswer(kind: Kind, sessionId: string): PollAnswer {
    const [, status, v] = kind.split(':');
    if (status === '404') return { failure: new FinboxError('not_found', 'FinBox: session not found (404)', 404) };
    if (status === '410') return { failure: new FinboxError('deleted', 'FinBox: session deleted (410)', 410) };
    if (status === '503') return { failure: new FinboxError('unavailable', 'FinBox: server error (503)', 503) };
    const raw = {
      session_id: sessionId,
      upload_status: status === 'IN_PROGRESS' ? 'IN PROGRESS' : status,
      session_expiry_timestamp: '2025-11-13 07:48:34',
      session_date_range: { from_date: '2025-08-11', to_date: '2025-11-11' },
      accounts: v ? [account(v === 'v1' ? 1 : 2, false, 'iso')] : [],
    };
    return { response: { data: parseUploadStatus(raw), raw, status: 200 } };
  }

  async function apply(kind: Kind, sessionId: string): Promise<void> {
    if (kind.startsWith('webhook:')) {
      const response = await sut.webhook(webhookBody(kind, sessionId));
      expect(response.status).toBe(200);
      return;
    }
    const target = { session_id: sessionId, tracked_since: new Date(), expires_at: null, poll_attempts: 0, lease_token: null };
    await sut.app.get(SessionsService).applyPollAnswer(target, pollAnswer(kind, sessionId));
  }

  async function observed(sessionId: string) {
    const view: any = await (await sut.api(`/v1/sessions/${sessionId}`)).json();
    return {
      status: view.status,
      completed_via: view.completed_via,
      expired: view.expired_at !== null,
      deleted: view.deleted_at !== null,
      enrichment: view.enrichment !== null,
      expires_at: view.expires_at,
      poll_attempts: view.poll_attempts,
      accounts: view.accounts.map((a: any) => ({
        account_id: a.account_id,
        account_number: a.account_number,
        account_status: a.account_status,
        months: a.months,
        last_updated_at: a.last_updated_at,
        statements: a.statements.map((s: any) => [s.statement_id, s.statement_status]),
      })),
    };
  }

  async function registered(): Promise<string> {
    const sessionId = randomUUID();
    const response = await sut.api('/v1/sessions', { method: 'POST', body: JSON.stringify({ session_id: sessionId }) });
    expect(response.status).toBe(201);
    return sessionId;
  }

  const sequences = fc.array(fc.constantFrom(...KINDS), { minLength: 1, maxLength: 12 });

  it('applied one after the other', async () => {
    await fc.assert(
      fc.asyncProperty(sequences, async (kinds) => {
        const sessionId = await registered();
        for (const kind of kinds) await apply(kind, sessionId);
        expect(await observed(sessionId)).toEqual(expected(kinds));
      }),
      { numRuns: 60 },
    );
  });

  it('applied all at once (racing webhooks and polls end as some serial order would)', async () => {
    await fc.assert(
      fc.asyncProperty(sequences, async (kinds) => {
        const sessionId = await registered();
        await Promise.all(kinds.map((kind) => apply(kind, sessionId)));
        const state = await observed(sessionId);
        const rules = expected(kinds);
        // Which racing completion came first is up to the race; everything else is order-free.
        const channels = kinds.filter(completes).map((k) => (k.startsWith('poll:') ? 'poll' : 'webhook'));
        expect(rules.completed_via === null ? [null] : channels).toContain(state.completed_via);
        expect({ ...state, completed_via: null }).toEqual({ ...rules, completed_via: null });
      }),
      { numRuns: 60 },
    );
  });
});
