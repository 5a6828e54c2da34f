import { randomUUID } from 'node:crypto';
import { startSandbox, type Sandbox } from '../finbox-sandbox/sandbox.js';
import { API_KEY, startApp, type TestApp } from '../helpers/app.js';
import { fixture, withSession } from '../helpers/fixtures.js';
import { body, DATE, expectError, feedServes, getSession, ISO_MS, type Json, readFeed, register } from '../helpers/rest.js';

/**
 * The REST API for other services (CONTRACT §4.2): API keys, registering,
 * reading a session, its history, an on-demand reconcile, and listing with
 * filters. The change-feed guarantees are in change-feed.e2e-spec.ts.
 */
describe('REST API', () => {
  let sut: TestApp;
  let sandbox: Sandbox;

  beforeAll(async () => {
    sandbox = await startSandbox();
    sut = await startApp({
      FINBOX_BASE_URL: sandbox.baseUrl,
      FINBOX_API_KEY: sandbox.apiKey,
      FINBOX_SERVER_HASH: sandbox.serverHash,
      FINBOX_MAX_ATTEMPTS: '1',
      FINBOX_TIMEOUT_MS: '2000',
    });
  });
  afterAll(async () => {
    await sut?.close();
    await sandbox?.close();
  });

  const post = (path: string, payload: unknown, headers: Record<string, string> = {}) =>
    sut.api(path, { method: 'POST', body: typeof payload === 'string' ? payload : JSON.stringify(payload), headers });
  const completionOf = (sessionId: string) => withSession(fixture('completion-documented'), sessionId);

  describe('API keys', () => {
    const someId = randomUUID();
    const routes: Array<[string, string]> = [
      ['GET', '/v1/sessions'],
      ['POST', '/v1/sessions'],
      ['GET', `/v1/sessions/${someId}`],
      ['GET', `/v1/sessions/${someId}/events`],
      ['POST', `/v1/sessions/${someId}/reconcile`],
      ['PUT', '/v1/finbox/webhook'],
    ];
    const call = (app: TestApp, method: string, path: string, headers: Record<string, string>) =>
      fetch(app.url + path, {
        method,
        headers: { ...headers, ...(method === 'POST' ? { 'content-type': 'application/json' } : {}) },
        body: method === 'POST' ? JSON.stringify({ session_id: someId }) : undefined,
      });

    it.each(routes)('%s %s: no key, a wrong key, or a key in the wrong place is 401 UNAUTHORIZED', async (method, path) => {
      const attempts: Array<Record<string, string>> = [
        {},
        { 'x-api-key': 'wrong' },
        { authorization: 'Bearer wrong' },
        { authorization: `Basic ${Buffer.from(`user:${API_KEY}`).toString('base64')}` },
        { authorization: API_KEY }, // no scheme
        { 'x-api-key': '' },
        { 'x-api-key': `${API_KEY}x` },
        { 'x-api-key': API_KEY.toUpperCase() },
      ];
      for (const headers of attempts) {
        const response = await call(sut, method, path, headers);
        expect(response.headers.get('www-authenticate')).toBe('Bearer');
        const error = await expectError(response, 401, 'UNAUTHORIZED');
        expect(JSON.stringify(error)).not.toContain(API_KEY);
      }
    });

    it('accepts the key as `Authorization: Bearer <key>` and as `x-api-key: <key>`', async () => {
      const accepted: Array<Record<string, string>> = [{ authorization: `Bearer ${API_KEY}` }, { authorization: `bearer ${API_KEY}` }, { 'x-api-key': API_KEY }];
      for (const headers of accepted) {
        const response = await fetch(`${sut.url}/v1/sessions?limit=1`, { headers });
        expect(response.status).toBe(200);
      }
      const response = await call(sut, 'POST', '/v1/sessions', { authorization: `Bearer ${API_KEY}` });
      expect([200, 201]).toContain(response.status);
    });

    it('does not ask the webhook receiver or the operations endpoints for a key', async () => {
      const webhook = await sut.webhook(completionOf(randomUUID()));
      expect(webhook.status).toBe(200);
      for (const path of ['/health/live', '/health/ready', '/metrics', '/docs-json']) {
        const response = await fetch(sut.url + path);
        expect({ path, status: response.status }).toEqual({ path, status: 200 });
      }
    });

    it('accepts every key of API_KEYS (rotation) and no other', async () => {
      const rotating = await startApp({ API_KEYS: 'key-old, key-new' }, sut.db);
      try {
        const keys: Array<Record<string, string>> = [{ 'x-api-key': 'key-old' }, { authorization: 'Bearer key-new' }];
        for (const headers of keys) {
          const response = await fetch(`${rotating.url}/v1/sessions?limit=1`, { headers });
          expect(response.status).toBe(200);
        }
        await expectError(await fetch(`${rotating.url}/v1/sessions`, { headers: { 'x-api-key': API_KEY } }), 401, 'UNAUTHORIZED');
        await expectError(await fetch(`${rotating.url}/v1/sessions`, { headers: { 'x-api-key': 'key-old,key-new' } }), 401, 'UNAUTHORIZED');
      } finally {
        await rotating.close();
      }
    });

    it('is open when API_KEYS is unset outside production', async () => {
      const open = await startApp({ API_KEYS: undefined }, sut.db);
      try {
        const response = await fetch(`${open.url}/v1/sessions?limit=1`);
        expect(response.status).toBe(200);
        const created = await fetch(`${open.url}/v1/sessions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ session_id: randomUUID() }),
        });
        expect(created.status).toBe(201);
      } finally {
        await open.close();
      }
    });
  });

  describe('POST /v1/sessions', () => {
    it('starts tracking: 201 with the session, then 200 with the same body (idempotent)', async () => {
      const sessionId = randomUUID();
      const request = { session_id: sessionId, reference: 'loan-42', metadata: { product: 'pl', amount: 5000, tags: ['a'] } };
      const first = await post('/v1/sessions', request);
      expect(first.status).toBe(201);
      const created = await body(first);
      expect(created).toMatchObject({
        session_id: sessionId,
        status: 'NO_UPLOAD',
        completed_via: null,
        reference: 'loan-42',
        metadata: { product: 'pl', amount: 5000, tags: ['a'] },
        accounts: [],
        poll_attempts: 0,
      });

      for (let i = 0; i < 2; i++) {
        const again = await post('/v1/sessions', request);
        expect(again.status).toBe(200);
        await expect(again.json()).resolves.toEqual(created);
      }
      await expect(getSession(sut, sessionId)).resolves.toEqual(created);
    });

    it('answers concurrent registrations of one session with exactly one 201', async () => {
      const sessionId = randomUUID();
      const responses = await Promise.all(Array.from({ length: 8 }, () => post('/v1/sessions', { session_id: sessionId })));
      expect(responses.map((response) => response.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 201]);
    });

    it('keeps the first reference and metadata of a tracked session (a later registration does not replace them)', async () => {
      const { session } = await register(sut, { reference: 'first', metadata: { v: 1 } });
      const again = await post('/v1/sessions', { session_id: session.session_id, reference: 'second', metadata: { v: 2 } });
      expect(again.status).toBe(200);
      await expect(again.json()).resolves.toMatchObject({ reference: 'first', metadata: { v: 1 } });
    });

    it('fills in the missing reference and metadata of a session first seen by webhook, keeping its state', async () => {
      const sessionId = randomUUID();
      expect((await sut.webhook(completionOf(sessionId))).status).toBe(200);
      const before = await getSession(sut, sessionId);
      expect(before).toMatchObject({ status: 'COMPLETED', reference: null, metadata: {} });

      const response = await post('/v1/sessions', { session_id: sessionId, reference: 'late-ref', metadata: { from: 'crm' } });
      expect(response.status).toBe(200);
      const after = await body(response);
      expect(after).toEqual({ ...before, reference: 'late-ref', metadata: { from: 'crm' }, updated_at: expect.stringMatching(ISO_MS) });
    });

    it('normalises an uppercase session id to lowercase, and finds it by either spelling', async () => {
      const sessionId = randomUUID();
      const first = await post('/v1/sessions', { session_id: sessionId.toUpperCase() });
      expect(first.status).toBe(201);
      await expect(first.json()).resolves.toMatchObject({ session_id: sessionId });
      expect((await post('/v1/sessions', { session_id: sessionId })).status).toBe(200);
      await expect(getSession(sut, sessionId.toUpperCase())).resolves.toMatchObject({ session_id: sessionId });
    });

    it('ignores unknown fields, including ones that look like state', async () => {
      const sessionId = randomUUID();
      const response = await post('/v1/sessions', {
        session_id: sessionId,
        status: 'COMPLETED',
        completed_via: 'poll',
        poll_attempts: 99,
        accounts: [{ account_id: 'x' }],
        unexpected: { nested: true },
      });
      expect(response.status).toBe(201);
      const session = await body(response);
      expect(session).toMatchObject({ status: 'NO_UPLOAD', completed_via: null, poll_attempts: 0, accounts: [] });
      expect(session).not.toHaveProperty('unexpected');
    });

    it('accepts null reference and metadata as absent, and the limits exactly', async () => {
      const nulls = await post('/v1/sessions', { session_id: randomUUID(), reference: null, metadata: null });
      expect(nulls.status).toBe(201);
      await expect(nulls.json()).resolves.toMatchObject({ reference: null, metadata: {} });

      // 128 characters (not bytes) of reference, and exactly 8192 bytes of metadata JSON (multi-byte characters count as bytes).
      const metadata = { k: 'é'.repeat(4091) }; // {"k":"…"} = 8 + 2 × 4091 = 8190 bytes
      metadata.k += 'ab';
      expect(Buffer.byteLength(JSON.stringify(metadata))).toBe(8192);
      const full = await post('/v1/sessions', { session_id: randomUUID(), reference: 'ü'.repeat(128), metadata });
      expect(full.status).toBe(201);
      await expect(full.json()).resolves.toMatchObject({ reference: 'ü'.repeat(128), metadata });
    });

    const invalid: Array<[string, unknown, string[]]> = [
      ['a missing session_id', { reference: 'r' }, ['session_id']],
      ['a session_id that is not a UUID', { session_id: 'not-a-uuid' }, ['session_id']],
      ['a numeric session_id', { session_id: 42 }, ['session_id']],
      ['a reference over 128 characters', { session_id: randomUUID(), reference: 'x'.repeat(129) }, ['reference']],
      ['an empty reference', { session_id: randomUUID(), reference: '' }, ['reference']],
      ['a numeric reference', { session_id: randomUUID(), reference: 5 }, ['reference']],
      ['a reference with a NUL character', { session_id: randomUUID(), reference: 'a\u0000b' }, ['reference']],
      ['metadata over 8 KiB', { session_id: randomUUID(), metadata: { k: 'é'.repeat(4093) } }, ['metadata']],
      ['metadata that is an array', { session_id: randomUUID(), metadata: [1, 2] }, ['metadata']],
      ['metadata that is a string', { session_id: randomUUID(), metadata: 'text' }, ['metadata']],
      ['metadata with a NUL character', { session_id: randomUUID(), metadata: { k: 'a\u0000b' } }, ['metadata']],
      ['metadata with a NUL character in a key', { session_id: randomUUID(), metadata: { 'a\u0000': 1 } }, ['metadata']],
      ['every field wrong at once', { session_id: 7, reference: ['x'], metadata: true }, ['metadata', 'reference', 'session_id']],
      ['an array body', [{ session_id: randomUUID() }], ['session_id']],
      ['a string body', '"409ed817-b824-4818-a7f7-dc532ce0d8fc"', ['session_id']],
      ['a number body', '42', ['session_id']],
      ['a null body', 'null', ['session_id']],
    ];
    it.each(invalid)('rejects %s with VALIDATION_FAILED and one detail per field', async (_name, payload, fields) => {
      const error = await expectError(await post('/v1/sessions', payload), 400, 'VALIDATION_FAILED');
      expect(error.error.details.map((detail: Json) => detail.field).sort()).toEqual(fields);
      for (const detail of error.error.details) expect(detail).toEqual({ field: expect.any(String), problem: expect.any(String) });
    });

    it('accepts metadata with a literal backslash-u-0000 text (not a NUL character)', async () => {
      const response = await post('/v1/sessions', { session_id: randomUUID(), metadata: { k: '\\u0000' } });
      expect(response.status).toBe(201);
      await expect(response.json()).resolves.toMatchObject({ metadata: { k: '\\u0000' } });
    });

    it('rejects deeply nested metadata with VALIDATION_FAILED, never a 500', async () => {
      for (const depth of [65, 3_000, 100_000]) {
        for (const [open, close] of [['{"a":', '}'], ['[', ']']]) {
          const metadata = `{"a":${open.repeat(depth)}1${close.repeat(depth)}}`;
          const response = await post('/v1/sessions', `{"session_id":"${randomUUID()}","metadata":${metadata}}`);
          const error = await expectError(response, 400, 'VALIDATION_FAILED');
          expect(error.error.details).toEqual([{ field: 'metadata', problem: expect.any(String) }]);
        }
      }
      const nested = await post('/v1/sessions', { session_id: randomUUID(), metadata: JSON.parse('{"a":'.repeat(64) + '1' + '}'.repeat(64)) });
      expect(nested.status).toBe(201);
    });

    it('answers a body that is not JSON with 400 MALFORMED_JSON or 415', async () => {
      await expectError(await post('/v1/sessions', '{"session_id":'), 400, 'MALFORMED_JSON');
      await expectError(await post('/v1/sessions', 'session_id=x', { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    });
  });

  describe('GET /v1/sessions/{session_id}', () => {
    const timestamps = ['tracked_since', 'completed_at', 'expired_at', 'deleted_at', 'last_webhook_at', 'last_polled_at', 'next_poll_at', 'gave_up_at', 'updated_at', 'expires_at'];

    it('answers a registered session in exactly the §3 shape', async () => {
      const sessionId = randomUUID();
      const started = Date.now();
      await register(sut, { session_id: sessionId, reference: 'shape', metadata: { a: 1 } });
      const view = await getSession(sut, sessionId);
      expect(view).toEqual({
        session_id: sessionId,
        status: 'NO_UPLOAD',
        completed_via: null,
        reference: 'shape',
        metadata: { a: 1 },
        session_date_range: { from_date: null, to_date: null },
        accounts: [],
        enrichment: null,
        expires_at: null,
        tracked_since: expect.stringMatching(ISO_MS),
        completed_at: null,
        expired_at: null,
        deleted_at: null,
        last_webhook_at: null,
        last_polled_at: null,
        next_poll_at: expect.stringMatching(ISO_MS),
        poll_attempts: 0,
        last_poll_error: null,
        gave_up_at: null,
        updated_at: expect.stringMatching(ISO_MS),
      });
      // First poll after RECONCILE_GRACE_SECONDS (900 s by default).
      const grace = Date.parse(view.next_poll_at) - Date.parse(view.tracked_since);
      expect(grace).toBeGreaterThanOrEqual(899_000);
      expect(grace).toBeLessThanOrEqual(901_000);
      expect(Math.abs(Date.parse(view.tracked_since) - started)).toBeLessThan(60_000);
    });

    it('answers a completed session with its accounts and statements, every timestamp ISO 8601 UTC and every date YYYY-MM-DD', async () => {
      const sessionId = randomUUID();
      expect((await sut.webhook(withSession(fixture('expiry'), sessionId))).status).toBe(200);
      expect((await sut.webhook(completionOf(sessionId))).status).toBe(200);
      const enrichment = withSession(fixture('enrichment-success'), sessionId);
      expect((await sut.webhook(enrichment)).status).toBe(200);

      const view = await getSession(sut, sessionId);
      expect(view).toMatchObject({
        status: 'COMPLETED',
        completed_via: 'webhook',
        session_date_range: { from_date: '2023-10-25', to_date: '2024-04-25' },
        next_poll_at: null,
        enrichment: {
          insights_available: true,
          notified_at: expect.stringMatching(ISO_MS),
          accounts: [{ account_id: '64d79813-d882-4c15-9ced-383e463678f8', status: 'completed', error_code: null, error_message: null }],
        },
      });
      expect(view.expired_at).toMatch(ISO_MS); // the completion after the expiry wins, the expiry's date is kept
      const axis = view.accounts.find((account: Json) => account.account_id === 'd35b9df1-871d-43d1-b6c1-67ded2c2e8e5');
      expect(axis).toEqual({
        account_id: 'd35b9df1-871d-43d1-b6c1-67ded2c2e8e5',
        account_number: 'XXXXXXXXXXXX3135',
        bank_name: 'axis',
        account_status: 'PARTIAL',
        months: ['2025-08', '2025-09', '2025-10', '2025-11'],
        missing_data: [],
        created_at: '2025-11-13T06:48:44.000Z',
        last_updated_at: '2025-11-13T06:48:44.000Z',
        statements: [
          {
            statement_id: 'bc04560a-d06c-4a51-b412-031b692ecf6f',
            statement_status: 'completed',
            error_code: null,
            error_message: null,
            source: 'pdf',
            statement_date_range: { from_date: '2025-08-11', to_date: '2025-11-10' },
            created_at: '2025-11-13T06:48:43.660Z',
          },
        ],
      });

      for (const field of timestamps) if (view[field] !== null) expect({ field, value: view[field] }).toEqual({ field, value: expect.stringMatching(ISO_MS) });
      for (const account of view.accounts) {
        for (const field of ['created_at', 'last_updated_at']) if (account[field] !== null) expect(account[field]).toMatch(ISO_MS);
        for (const statement of account.statements) {
          if (statement.created_at !== null) expect(statement.created_at).toMatch(ISO_MS);
          for (const date of Object.values(statement.statement_date_range)) if (date !== null) expect(date).toMatch(DATE);
        }
      }
    });

    it('answers an unknown session with 404 SESSION_NOT_FOUND', async () => {
      await expectError(await sut.api(`/v1/sessions/${randomUUID()}`), 404, 'SESSION_NOT_FOUND');
    });

    it.each(['not-a-uuid', '123', "1' OR '1'='1", `${randomUUID()}x`, '%00'])('answers the id %p with 400 VALIDATION_FAILED', async (id) => {
      const error = await expectError(await sut.api(`/v1/sessions/${encodeURIComponent(id)}`), 400, 'VALIDATION_FAILED');
      expect(error.error.details).toEqual([{ field: 'session_id', problem: expect.any(String) }]);
    });
  });

  describe('GET /v1/sessions/{session_id}/events', () => {
    let sessionId: string;
    let history: Json[];

    beforeAll(async () => {
      sessionId = randomUUID();
      await register(sut, { session_id: sessionId });
      const completion = completionOf(sessionId);
      expect((await sut.webhook(completion)).status).toBe(200);
      expect((await sut.webhook(completion)).status).toBe(200); // redelivery: counted, not a new entry
      expect((await sut.webhook({ session_id: sessionId, event_name: 'SOMETHING_NEW' })).status).toBe(200);
      const invalid = { ...completion, accounts: [{ ...completion.accounts[0], created_at: 'yesterday-ish' }] };
      expect((await sut.webhook(invalid)).status).toBe(400);
      // FinBox does not know it: the poll is recorded; the confirmed session stays COMPLETED.
      const reconciled = await sut.api(`/v1/sessions/${sessionId}/reconcile`, { method: 'POST' });
      expect(reconciled.status).toBe(200);
      await expect(reconciled.json()).resolves.toMatchObject({ status: 'COMPLETED', completed_via: 'webhook' });
      const response = await sut.api(`/v1/sessions/${sessionId}/events`);
      expect(response.status).toBe(200);
      const page = await body(response);
      expect(page.next_cursor).toBeNull();
      history = page.items;
    });

    it('lists each webhook received and each poll made, newest first, with its outcome', () => {
      expect(history.map((event) => [event.channel, event.event_name, event.outcome])).toEqual([
        ['poll', 'session_upload_status', 'not_found'],
        ['webhook', 'SESSION_REQUIREMENT_COMPLETION_NOTIFICATION', 'rejected'],
        ['webhook', 'SOMETHING_NEW', 'ignored'],
        ['webhook', 'SESSION_REQUIREMENT_COMPLETION_NOTIFICATION', 'applied'],
      ]);
      const ids = history.map((event) => BigInt(event.id));
      expect([...ids].sort((a, b) => (a > b ? -1 : 1))).toEqual(ids);
      expect(history[0]).toMatchObject({ http_status: 404, error: expect.any(String), duration_ms: expect.any(Number) });
      expect(history[1]).toMatchObject({ error: expect.stringContaining('created_at'), http_status: null });
      expect(history[3]).toMatchObject({ error: null, payload: completionOf(sessionId) });
      for (const event of history) {
        expect(Object.keys(event).sort()).toEqual(
          ['channel', 'duration_ms', 'error', 'event_name', 'http_status', 'id', 'outcome', 'payload', 'received_at'],
        );
        expect(event.received_at).toMatch(ISO_MS);
      }
    });

    it('pages with limit and next_cursor, every event exactly once, in order', async () => {
      for (const limit of [1, 2, 3, 4]) {
        const seen: Json[] = [];
        let cursor: string | null = null;
        for (let pages = 0; ; pages++) {
          const response: Response = await sut.api(`/v1/sessions/${sessionId}/events?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
          expect(response.status).toBe(200);
          const page = await body(response);
          expect(page.items.length).toBeLessThanOrEqual(limit);
          seen.push(...page.items);
          cursor = page.next_cursor;
          if (!cursor) break;
          expect(pages).toBeLessThan(10);
        }
        expect({ limit, ids: seen.map((event) => event.id) }).toEqual({ limit, ids: history.map((event) => event.id) });
      }
    });

    it('answers an unknown session with 404 and a bad id, limit or cursor with 400', async () => {
      await expectError(await sut.api(`/v1/sessions/${randomUUID()}/events`), 404, 'SESSION_NOT_FOUND');
      await expectError(await sut.api('/v1/sessions/nope/events'), 400, 'VALIDATION_FAILED');
      for (const query of ['limit=0', 'limit=501', 'limit=abc', 'limit=1.5', 'cursor=garbage!', `cursor=${Buffer.from('event:1; DROP TABLE session_events').toString('base64url')}`]) {
        const error = await expectError(await sut.api(`/v1/sessions/${sessionId}/events?${query}`), 400, 'VALIDATION_FAILED');
        expect(error.error.details).toHaveLength(1);
      }
      // A cursor of the session list is not an events cursor, and an out-of-range id is not a database error.
      const sessionsPage = await body(await sut.api('/v1/sessions?limit=1'));
      for (const cursor of [sessionsPage.resume_cursor, Buffer.from('event:9999999999999999999').toString('base64url')]) {
        await expectError(await sut.api(`/v1/sessions/${sessionId}/events?cursor=${cursor}`), 400, 'VALIDATION_FAILED');
      }
    });
  });

  describe('POST /v1/sessions/{session_id}/reconcile', () => {
    const reconcile = (sessionId: string, app: TestApp = sut) => app.api(`/v1/sessions/${sessionId}/reconcile`, { method: 'POST' });

    it('answers an unknown session with 404 and a bad id with 400, without calling FinBox', async () => {
      sandbox.resetStats();
      await expectError(await reconcile(randomUUID()), 404, 'SESSION_NOT_FOUND');
      await expectError(await reconcile('nope'), 400, 'VALIDATION_FAILED');
      expect(sandbox.stats().total_requests).toBe(0);
    });

    it('heals a session FinBox completed: COMPLETED with completed_via "poll"', async () => {
      const { session_id: sessionId } = sandbox.createSession({ complete_after_ms: 0, webhooks: { drop: true } });
      await register(sut, { session_id: sessionId, reference: 'healed' });
      const response = await reconcile(sessionId);
      expect(response.status).toBe(200);
      const view = await body(response);
      expect(view).toMatchObject({
        session_id: sessionId,
        status: 'COMPLETED',
        completed_via: 'poll',
        reference: 'healed',
        completed_at: expect.stringMatching(ISO_MS),
        last_polled_at: expect.stringMatching(ISO_MS),
        expires_at: expect.stringMatching(ISO_MS),
        next_poll_at: null,
        poll_attempts: 1,
        last_poll_error: null,
      });
      expect(view.accounts).toHaveLength(1);
      expect(view.accounts[0].account_number).toBe(sandbox.describeSession(sessionId).accounts[0].account_number);
      await expect(getSession(sut, sessionId)).resolves.toEqual(view);
      const events = await body(await sut.api(`/v1/sessions/${sessionId}/events`));
      expect(events.items[0]).toMatchObject({ channel: 'poll', outcome: 'ok', http_status: 200 });
    });

    it('records an upload still in progress and keeps the session in the queue', async () => {
      const { session_id: sessionId } = sandbox.createSession({ complete_after_ms: null });
      await register(sut, { session_id: sessionId });
      const response = await reconcile(sessionId);
      expect(response.status).toBe(200);
      await expect(response.json()).resolves.toMatchObject({ status: 'IN_PROGRESS', completed_via: null, next_poll_at: expect.stringMatching(ISO_MS) });
    });

    it('marks an unconfirmed session FinBox does not know NOT_FOUND (200)', async () => {
      const { session } = await register(sut);
      const response = await reconcile(session.session_id);
      expect(response.status).toBe(200);
      await expect(response.json()).resolves.toMatchObject({ status: 'NOT_FOUND', next_poll_at: null, poll_attempts: 1 });
    });

    it('answers 502 UPSTREAM_UNAVAILABLE when FinBox fails, and records the failed poll', async () => {
      const { session_id: sessionId } = sandbox.createSession({ complete_after_ms: 0 });
      await register(sut, { session_id: sessionId });
      sandbox.addFault({ type: 'status', status: 503, session_id: sessionId, times: 1 });
      try {
        const error = await expectError(await reconcile(sessionId), 502, 'UPSTREAM_UNAVAILABLE');
        expect(JSON.stringify(error)).not.toContain(sandbox.apiKey);
      } finally {
        sandbox.clearFaults();
      }
      const view = await getSession(sut, sessionId);
      expect(view).toMatchObject({ status: 'NO_UPLOAD', last_poll_error: expect.any(String) });
      const events = await body(await sut.api(`/v1/sessions/${sessionId}/events`));
      expect(events.items[0]).toMatchObject({ channel: 'poll', outcome: 'unavailable', http_status: 503 });
    });

    it('answers 502 UPSTREAM_UNAVAILABLE when FinBox is not configured', async () => {
      const unconfigured = await startApp({}, sut.db);
      try {
        const { session } = await register(unconfigured);
        const error = await expectError(await reconcile(session.session_id, unconfigured), 502, 'UPSTREAM_UNAVAILABLE');
        expect(error.error.message).toMatch(/FINBOX_API_KEY/);
        await expect(getSession(unconfigured, session.session_id)).resolves.toEqual(session);
      } finally {
        await unconfigured.close();
      }
    });
  });

  describe('GET /v1/sessions (filters and input)', () => {
    const sqlReference = `o'brien"; DROP TABLE sessions; --`;
    let completed: string;
    let expired: string;
    let plain: string;
    let quoted: string;

    beforeAll(async () => {
      completed = randomUUID();
      expired = randomUUID();
      expect((await sut.webhook(completionOf(completed))).status).toBe(200);
      await register(sut, { session_id: completed, reference: 'filter-completed' });
      expect((await sut.webhook(withSession(fixture('expiry'), expired))).status).toBe(200);
      plain = (await register(sut, { reference: 'filter-plain' })).session.session_id;
      quoted = (await register(sut, { reference: sqlReference })).session.session_id;
      await feedServes(sut, [completed, expired, plain, quoted]);
    });

    it('answers { items, next_cursor, resume_cursor } with sessions in the §3 shape', async () => {
      const response = await sut.api('/v1/sessions?reference=filter-plain');
      expect(response.status).toBe(200);
      await expect(response.json()).resolves.toEqual({
        items: [await getSession(sut, plain)],
        next_cursor: null,
        resume_cursor: expect.any(String),
      });
    });

    it('filters by status', async () => {
      for (const [status, included, excluded] of [
        ['COMPLETED', completed, [expired, plain, quoted]],
        ['EXPIRED', expired, [completed, plain, quoted]],
        ['NO_UPLOAD', plain, [completed, expired]],
      ] as const) {
        const { items } = await readFeed(sut, { query: `status=${status}`, limit: 7 });
        expect(items.length).toBeGreaterThan(0);
        for (const item of items) expect(item.status).toBe(status);
        const ids = items.map((item) => item.session_id);
        expect(ids).toContain(included);
        for (const id of excluded) expect(ids).not.toContain(id);
      }
    });

    it('filters by exact reference, quotes and SQL included (parameters, never SQL from input)', async () => {
      await expect(readFeed(sut, { query: 'reference=filter-completed' })).resolves.toMatchObject({ items: [{ session_id: completed }] });
      await expect(readFeed(sut, { query: `reference=${encodeURIComponent(sqlReference)}` })).resolves.toMatchObject({
        items: [{ session_id: quoted, reference: sqlReference }],
      });
      for (const reference of ["' OR '1'='1", 'filter-%', 'filter-_lain', 'FILTER-PLAIN', "filter-plain' --"]) {
        const { items } = await readFeed(sut, { query: `reference=${encodeURIComponent(reference)}` });
        expect({ reference, items }).toEqual({ reference, items: [] });
      }
      await expect(getSession(sut, quoted)).resolves.toMatchObject({ reference: sqlReference }); // the table is still there
    });

    it('filters by updated_after (a date-time without a zone is UTC, whatever the server time zone)', async () => {
      const since = (await getSession(sut, quoted)).updated_at;
      const later = (await register(sut, { reference: 'filter-later' })).session.session_id;
      await feedServes(sut, [later]);
      const zone = process.env.TZ;
      process.env.TZ = 'Asia/Kolkata'; // UTC+05:30: a local-time reading would be off by hours
      try {
        for (const value of [since, since.replace('Z', ''), since.replace('Z', '+00:00'), new Date(Date.parse(since) + 5.5 * 3600_000).toISOString().replace('Z', '+05:30')]) {
          const { items } = await readFeed(sut, { query: `updated_after=${encodeURIComponent(value)}` });
          const ids = items.map((item) => item.session_id);
          expect({ value, later: ids.includes(later), earlier: ids.some((id) => [completed, expired, plain, quoted].includes(id)) }).toEqual({
            value,
            later: true,
            earlier: false,
          });
          for (const item of items) expect(Date.parse(item.updated_at)).toBeGreaterThan(Date.parse(since));
        }
      } finally {
        if (zone === undefined) delete process.env.TZ;
        else process.env.TZ = zone;
      }
    });

    it('combines filters', async () => {
      const { items } = await readFeed(sut, { query: 'status=COMPLETED&reference=filter-completed&updated_after=2000-01-01T00:00:00Z' });
      expect(items.map((item) => item.session_id)).toEqual([completed]);
      await expect(readFeed(sut, { query: 'status=EXPIRED&reference=filter-completed' })).resolves.toMatchObject({ items: [] });
    });

    it('accepts limit from 1 to 500 (default 100) and nothing else', async () => {
      for (const limit of ['1', '500']) expect((await sut.api(`/v1/sessions?limit=${limit}`)).status).toBe(200);
      const one = await body(await sut.api('/v1/sessions?limit=1'));
      expect(one.items).toHaveLength(1);
      expect(one.next_cursor).toEqual(expect.any(String));
      for (const limit of ['0', '501', 'abc', '1.5', '-1', '', ' 5', '1e2', '0x10', '99999999999999999999', 'null']) {
        const error = await expectError(await sut.api(`/v1/sessions?limit=${encodeURIComponent(limit)}`), 400, 'VALIDATION_FAILED');
        expect({ limit, details: error.error.details }).toEqual({ limit, details: [{ field: 'limit', problem: expect.any(String) }] });
      }
      const twice = await expectError(await sut.api('/v1/sessions?limit=1&limit=2'), 400, 'VALIDATION_FAILED');
      expect(twice.error.details).toEqual([{ field: 'limit', problem: expect.any(String) }]);
    });

    it('rejects a status that is not one, quotes and SQL included', async () => {
      for (const status of ['DONE', 'completed', "COMPLETED' OR '1'='1", 'COMPLETED;DROP TABLE sessions', '']) {
        const error = await expectError(await sut.api(`/v1/sessions?status=${encodeURIComponent(status)}`), 400, 'VALIDATION_FAILED');
        expect(error.error.details).toEqual([{ field: 'status', problem: expect.any(String) }]);
      }
    });

    it('rejects every cursor it did not issue with VALIDATION_FAILED', async () => {
      const real = (await body(await sut.api('/v1/sessions?limit=1'))).next_cursor as string;
      const eventsCursor = (await body(await sut.api(`/v1/sessions/${completed}/events?limit=1`))).next_cursor as string;
      expect(eventsCursor).toEqual(expect.any(String));
      const standard = Buffer.from(Buffer.from(real, 'base64url').toString()).toString('base64');
      const b64 = (text: string) => Buffer.from(text).toString('base64url');
      const forged = [
        'garbage',
        'not a cursor!',
        '%%%',
        b64('hello world'),
        b64('{"change_xid":1,"session_id":"x"}'),
        b64(`session:1:not-a-uuid`),
        b64(`session:abc:${randomUUID()}`),
        b64(`session:1:${randomUUID()}:extra`),
        b64(`session:-1:${randomUUID()}`),
        b64(`session:99999999999999999999:${randomUUID()}`),
        b64(`session:9999999999999999999:${randomUUID()}`), // 19 digits, beyond bigint
        b64(`session:1:${randomUUID().toUpperCase()}`),
        b64(`session:1' OR '1'='1:${randomUUID()}`),
        b64('event:12'),
        eventsCursor,
        ...(standard === real ? [] : [standard]), // the same position, spelt another way
        `${real}=`,
        `${real}x`,
        real.slice(0, -2),
        'x'.repeat(300),
      ];
      for (const cursor of forged) {
        const response = await sut.api(`/v1/sessions?cursor=${encodeURIComponent(cursor)}`);
        const error = await expectError(response, 400, 'VALIDATION_FAILED');
        expect({ cursor, details: error.error.details }).toEqual({ cursor, details: [{ field: 'cursor', problem: expect.any(String) }] });
      }
      const twice = await expectError(await sut.api(`/v1/sessions?cursor=${real}&cursor=${real}`), 400, 'VALIDATION_FAILED');
      expect(twice.error.details).toEqual([{ field: 'cursor', problem: expect.any(String) }]);
    });

    it('never answers odd input with a 500', async () => {
      const queries = [
        'reference=%00',
        'reference=a%00b',
        `reference=${'x'.repeat(129)}`,
        'reference[]=x',
        'reference=a&reference=b',
        'status[]=COMPLETED',
        'status=COMPLETED&status=EXPIRED',
        'updated_after=now()',
        'updated_after=2024-13-01T00:00:00Z',
        'updated_after=2024-02-30',
        'updated_after=2024-W01-1',
        'updated_after=2024-001',
        'updated_after=0000-01-01T00:00:00Z',
        'updated_after=9999-12-31T23:59:59.999999Z',
        "updated_after=2024-01-01' OR '1'='1",
        'updated_after=%00',
        'cursor=%00',
        `cursor=${Buffer.from('session:1:\u0000').toString('base64url')}`,
        'limit=%00',
        `${'a'.repeat(2000)}=1`,
        'limit=1&status=NO_UPLOAD&reference=%F0%9F%98%80&updated_after=2024-01-01',
        '__proto__[x]=1',
        'constructor[prototype][x]=1',
      ];
      for (const query of queries) {
        const response = await sut.api(`/v1/sessions?${query}`);
        expect({ query, status: response.status }).toEqual({ query, status: expect.any(Number) });
        expect({ query, server_error: response.status >= 500 }).toEqual({ query, server_error: false });
        if (response.status >= 400) await expectError(response, response.status, 'VALIDATION_FAILED');
        else await response.arrayBuffer();
      }
      // The service still works and has lost nothing.
      await expect(getSession(sut, quoted)).resolves.toMatchObject({ session_id: quoted });
    });
  });
});
