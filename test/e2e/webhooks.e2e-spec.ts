import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { parseUploadStatus } from '../../src/finbox/finbox-payload.js';
import { SessionsService } from '../../src/sessions/sessions.service.js';
import { startApp, WEBHOOK_TOKEN, type TestApp } from '../helpers/app.js';
import { fixture, withSession } from '../helpers/fixtures.js';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe('FinBox webhook receiver', () => {
  let sut: TestApp;
  let db: pg.Client;

  beforeAll(async () => {
    sut = await startApp({ WEBHOOK_TOKENS: `${WEBHOOK_TOKEN},next-token` });
    db = await sut.db.client();
  });
  afterAll(async () => {
    await sut.close();
  });

  const session = async (id: string): Promise<any> => {
    const response = await sut.api(`/v1/sessions/${id}`);
    expect(response.status).toBe(200);
    return response.json();
  };
  const eventsOf = async (id: string) =>
    (await db.query('SELECT * FROM session_events WHERE session_id = $1 ORDER BY id', [id])).rows;
  const countEvents = async () => Number((await db.query('SELECT count(*) FROM session_events')).rows[0].count);
  const countSessions = async () => Number((await db.query('SELECT count(*) FROM sessions')).rows[0].count);

  /** Applies a session_upload_status body as a poll answer, through the same path the reconciler uses. */
  const applyPoll = async (body: unknown) => {
    const data = parseUploadStatus(body);
    const row = (await db.query('SELECT tracked_since, expires_at, poll_attempts FROM sessions WHERE session_id = $1', [data.session_id])).rows[0];
    return sut.app
      .get(SessionsService)
      .applyPollAnswer({ session_id: data.session_id, ...row, lease_token: null }, { response: { data, raw: body, status: 200 } });
  };

  describe('normalises every FinBox payload', () => {
    it('the documented completion webhook', async () => {
      const payload = withSession(fixture('completion-documented'), randomUUID());
      const response = await sut.webhook(payload);
      expect(response.status).toBe(200);
      await expect(response.json()).resolves.toEqual({ message: 'success' });

      const view = await session(payload.session_id);
      expect(view).toEqual({
        session_id: payload.session_id,
        status: 'COMPLETED',
        completed_via: 'webhook',
        reference: null,
        metadata: {},
        session_date_range: { from_date: '2023-10-25', to_date: '2024-04-25' },
        accounts: [
          {
            account_id: '814d062e-1c36-409f-9f9c-acb32e7984b0',
            account_number: '5413699704',
            bank_name: 'kotak',
            account_status: 'PARTIAL',
            months: ['2023-10', '2023-11', '2023-12', '2024-01', '2024-02', '2024-03', '2024-04'],
            missing_data: [],
            created_at: '2024-04-26T12:25:57.000Z',
            last_updated_at: '2024-04-26T12:26:27.000Z',
            statements: [
              {
                statement_id: 'fe49d6a6-1c0e-4e6d-911a-c38b6a4f0d04',
                statement_status: 'completed',
                error_code: null,
                error_message: null,
                source: 'pdf',
                statement_date_range: { from_date: null, to_date: null },
                created_at: '2024-04-26T12:25:56.172Z',
              },
            ],
          },
        ],
        enrichment: null,
        expires_at: null,
        tracked_since: expect.stringMatching(ISO),
        completed_at: expect.stringMatching(ISO),
        expired_at: null,
        deleted_at: null,
        last_webhook_at: expect.stringMatching(ISO),
        last_polled_at: null,
        next_poll_at: null,
        poll_attempts: 0,
        last_poll_error: null,
        gave_up_at: null,
        updated_at: expect.stringMatching(ISO),
      });
    });

    it('the current completion webhook: masked number, statement date range, extra fields kept in the raw payload', async () => {
      const payload = withSession(fixture('completion-masked'), randomUUID());
      expect((await sut.webhook(payload)).status).toBe(200);
      const view = await session(payload.session_id);
      expect(view.session_date_range).toEqual({ from_date: '2025-08-11', to_date: '2025-11-11' });
      expect(view.accounts).toEqual([
        {
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
        },
      ]);
      const [event] = await eventsOf(payload.session_id);
      expect(event).toMatchObject({ channel: 'webhook', outcome: 'applied', event_name: 'SESSION_REQUIREMENT_COMPLETION_NOTIFICATION' });
      expect(event.payload.accounts[0].statements[0].upload_file_name).toBe('168c64e6-3d12-40c0-9ffb-2c02d59fe84c_axis.pdf');
    });

    it('the older event name SESSION_COMPLETION_NOTIFICATION completes too', async () => {
      const payload = withSession(fixture('completion-old-name'), randomUUID());
      expect((await sut.webhook(payload)).status).toBe(200);
      await expect(session(payload.session_id)).resolves.toMatchObject({ status: 'COMPLETED', completed_via: 'webhook' });
    });

    it('the expiry webhook', async () => {
      const payload = withSession(fixture('expiry'), randomUUID());
      expect((await sut.webhook(payload)).status).toBe(200);
      const view = await session(payload.session_id);
      expect(view).toMatchObject({ status: 'EXPIRED', completed_at: null, completed_via: null, next_poll_at: null });
      expect(view.expired_at).toMatch(ISO);
      expect(view.accounts).toHaveLength(1);
    });

    it('the enrichment webhook, success and failure; it proves completion', async () => {
      const id = randomUUID();
      expect((await sut.webhook(withSession(fixture('enrichment-success'), id))).status).toBe(200);
      const first = await session(id);
      expect(first).toMatchObject({ status: 'COMPLETED', completed_via: 'webhook', accounts: [] });
      expect(first.enrichment).toEqual({
        insights_available: true,
        notified_at: expect.stringMatching(ISO),
        accounts: [{ account_id: '64d79813-d882-4c15-9ced-383e463678f8', status: 'completed', error_code: null, error_message: null }],
      });

      expect((await sut.webhook(withSession(fixture('enrichment-failed'), id))).status).toBe(200);
      const second = await session(id);
      expect(second.enrichment).toEqual({
        insights_available: false,
        notified_at: expect.stringMatching(ISO),
        accounts: [
          {
            account_id: '64d79813-d882-4c15-9ced-383e463678f8',
            status: 'failed',
            error_code: 'UNPARSABLE',
            error_message: 'Failed to process because of an unparsable statement',
          },
        ],
      });
      expect(second.completed_at).toBe(first.completed_at);
    });

    it('the documented poll answer (empty strings → null, ISO Z timestamps, months [])', async () => {
      const body = fixture('upload-status-documented');
      await sut.api('/v1/sessions', { method: 'POST', body: JSON.stringify({ session_id: body.session_id }) });
      await applyPoll(body);
      const view = await session(body.session_id);
      expect(view).toMatchObject({ status: 'COMPLETED', completed_via: 'poll', poll_attempts: 1, last_poll_error: null });
      expect(view.session_date_range).toEqual({ from_date: null, to_date: null });
      expect(view.accounts[0]).toMatchObject({ account_number: 'XXXXXXXXXX', months: [], account_status: 'COMPLETED' });
      expect(view.accounts[0].statements[0]).toEqual({
        statement_id: '567700a6-570d-4f75-ae60-d79357dabdb4',
        statement_status: 'completed',
        error_code: null,
        error_message: null,
        source: 'pdf',
        statement_date_range: { from_date: null, to_date: null },
        created_at: '2024-04-16T07:47:40.806Z',
      });
    });
  });

  describe('status rules', () => {
    it('a completion after an expiry wins and keeps expired_at; an expiry after a completion only sets expired_at', async () => {
      const first = randomUUID();
      await sut.webhook(withSession(fixture('expiry'), first));
      await sut.webhook(withSession(fixture('completion-masked'), first));
      const completedLate = await session(first);
      expect(completedLate.status).toBe('COMPLETED');
      expect(completedLate.expired_at).toMatch(ISO);

      const second = randomUUID();
      await sut.webhook(withSession(fixture('completion-masked'), second));
      await sut.webhook(withSession(fixture('expiry'), second));
      const expiredLate = await session(second);
      expect(expiredLate.status).toBe('COMPLETED');
      expect(expiredLate.completed_via).toBe('webhook');
      expect(expiredLate.expired_at).toMatch(ISO);
    });

    it('a masked account number never replaces an unmasked one, whichever arrives first', async () => {
      for (const order of ['poll-first', 'webhook-first']) {
        const id = randomUUID();
        await sut.api('/v1/sessions', { method: 'POST', body: JSON.stringify({ session_id: id }) });
        const poll = () => applyPoll(withSession(fixture('upload-status-unmasked'), id));
        const webhook = () => sut.webhook(withSession(fixture('completion-masked'), id));
        if (order === 'poll-first') {
          await poll();
          await webhook();
        } else {
          await webhook();
          await poll();
        }
        const view = await session(id);
        expect([order, view.accounts[0].account_number]).toEqual([order, '924010040573135']);
        expect(view.status).toBe('COMPLETED');
        expect(view.expires_at).toBe('2025-11-13T07:48:34.000Z');
      }
    });

    it('data with an older last_updated_at never overwrites newer data, whichever channel brought it', async () => {
      const id = randomUUID();
      const newer = withSession(fixture('completion-masked'), id);
      Object.assign(newer.accounts[0], { last_updated_at: '2025-11-13 07:00:00', account_status: 'COMPLETED', bank_name: 'axis bank' });
      delete newer.accounts[0].missing_data; // absent: a gap older data may fill
      newer.accounts[0].statements[0].statement_status = 'processed';
      const older = withSession(fixture('upload-status-unmasked'), id);
      older.upload_status = 'IN_PROGRESS';

      await sut.api('/v1/sessions', { method: 'POST', body: JSON.stringify({ session_id: id }) });
      await sut.webhook(newer);
      await applyPoll(older);
      const view = await session(id);
      expect(view.accounts[0]).toMatchObject({
        account_status: 'COMPLETED',
        bank_name: 'axis bank',
        last_updated_at: '2025-11-13T07:00:00.000Z',
        account_number: '924010040573135', // unmasked beats masked regardless of age
        missing_data: [{ from_date: '2025-11-03', to_date: '2025-11-11' }], // the older data filled a gap
      });
      expect(view.accounts[0].statements[0].statement_status).toBe('processed');
    });

    it('accounts and statements are upserted by id within the session', async () => {
      const id = randomUUID();
      const first = withSession(fixture('completion-masked'), id);
      const second = withSession(fixture('completion-masked'), id);
      second.message = 'Upload Completed again';
      second.accounts[0].last_updated_at = '2025-11-13 06:50:00';
      second.accounts[0].statements.push({ ...second.accounts[0].statements[0], statement_id: 'second-statement', created_at: '2025-11-13 06:49:00' });
      second.accounts.push({ ...fixture('completion-documented').accounts[0] });
      await sut.webhook(first);
      await sut.webhook(second);
      const view = await session(id);
      expect(view.accounts.map((account: { account_id: string }) => account.account_id)).toEqual([
        '814d062e-1c36-409f-9f9c-acb32e7984b0',
        'd35b9df1-871d-43d1-b6c1-67ded2c2e8e5',
      ]);
      expect(view.accounts[1].statements.map((statement: { statement_id: string }) => statement.statement_id)).toEqual([
        'bc04560a-d06c-4a51-b412-031b692ecf6f',
        'second-statement',
      ]);
    });
  });

  describe('delivery semantics', () => {
    it('a redelivery is a 200 that changes nothing and is counted as a duplicate', async () => {
      const payload = withSession(fixture('completion-masked'), randomUUID());
      expect((await sut.webhook(payload)).status).toBe(200);
      const before = await session(payload.session_id);
      // The same JSON with its keys in another order is the same delivery.
      const reordered = Object.fromEntries(Object.entries(payload).reverse());
      expect((await sut.webhook(payload)).status).toBe(200);
      expect((await sut.webhook(reordered)).status).toBe(200);
      await expect(session(payload.session_id)).resolves.toEqual(before);
      const events = await eventsOf(payload.session_id);
      expect(events).toHaveLength(1);
      const metrics = await (await fetch(`${sut.url}/metrics`)).text();
      expect(metrics).toMatch(/webhook_events_total\{event="SESSION_REQUIREMENT_COMPLETION_NOTIFICATION",outcome="duplicate"\} [2-9]/);
    });

    it('an unknown event is stored as ignored, creates the session at NO_UPLOAD and makes it due at once', async () => {
      const id = randomUUID();
      const response = await sut.webhook({ session_id: id, event_name: 'SESSION_SOMETHING_NEW', detail: { a: 1 } });
      expect(response.status).toBe(200);
      const view = await session(id);
      expect(view.status).toBe('NO_UPLOAD');
      expect(new Date(view.next_poll_at).getTime()).toBeLessThanOrEqual(Date.now());
      const [event] = await eventsOf(id);
      expect(event).toMatchObject({ outcome: 'ignored', event_name: 'SESSION_SOMETHING_NEW', payload: { detail: { a: 1 } } });
    });

    it('a payload failing validation is 400, stored as rejected, and its session polled at once', async () => {
      const id = randomUUID();
      const payload = withSession(fixture('completion-masked'), id);
      payload.accounts[0].created_at = '13/11/2025 06:48';
      payload.accounts[0].statements[0].created_at = 'yesterday';
      const response = await sut.webhook(payload);
      expect(response.status).toBe(400);
      const body: any = await response.json();
      expect(body.error.code).toBe('VALIDATION_FAILED');
      expect(body.error.details).toEqual([
        { field: 'accounts[0].created_at', problem: 'must be a timestamp such as 2024-04-26 12:25:57' },
        { field: 'accounts[0].statements[0].created_at', problem: 'must be a timestamp such as 2024-04-26 12:25:57' },
      ]);
      const view = await session(id);
      expect(view).toMatchObject({ status: 'NO_UPLOAD', accounts: [], completed_at: null });
      expect(new Date(view.next_poll_at).getTime()).toBeLessThanOrEqual(Date.now());
      const [event] = await eventsOf(id);
      expect(event).toMatchObject({ outcome: 'rejected', payload: { session_id: id } });
    });

    it('a rejected payload without a usable session_id is stored for inspection', async () => {
      const marker = randomUUID();
      const response = await sut.webhook({ session_id: 'not-a-uuid', event_name: 'SESSION_EXPIRY_NOTIFICATION', marker });
      expect(response.status).toBe(400);
      const { rows } = await db.query(`SELECT * FROM session_events WHERE payload->>'marker' = $1`, [marker]);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ session_id: null, outcome: 'rejected' });
    });
  });

  describe('bad input never stores what it should not, never a 500', () => {
    const invalid: Array<[string, unknown, string[]]> = [
      ['an array body', [1, 2], ['body']],
      ['a JSON string body', 'just text', ['body']],
      ['null', null, ['body']],
      ['a numeric session_id', { session_id: 42, event_name: 'SESSION_EXPIRY_NOTIFICATION' }, ['session_id']],
      ['a missing event_name', { session_id: randomUUID() }, ['event_name']],
      ['an object event_name', { session_id: randomUUID(), event_name: { x: 1 } }, ['event_name']],
      ['accounts as an object', { session_id: randomUUID(), event_name: 'SESSION_EXPIRY_NOTIFICATION', accounts: {} }, ['accounts']],
      [
        'statements as a string and a bad month',
        {
          session_id: randomUUID(),
          event_name: 'SESSION_EXPIRY_NOTIFICATION',
          accounts: [{ account_id: 'a', statements: 'none', months: ['2024-13'] }],
        },
        ['accounts[0].months[0]', 'accounts[0].statements'],
      ],
      [
        'a huge string',
        { session_id: randomUUID(), event_name: 'SESSION_EXPIRY_NOTIFICATION', accounts: [{ account_id: 'a', bank_name: 'x'.repeat(5_000) }] },
        ['accounts[0].bank_name'],
      ],
      ['an impossible date', { session_id: randomUUID(), event_name: 'SESSION_EXPIRY_NOTIFICATION', session_date_range: { from_date: '31/02/2024' } }, ['session_date_range.from_date']],
      ['enrichment without insights_available', { session_id: randomUUID(), event_name: 'ENRICHMENT_NOTIFICATION', accounts: [] }, ['insights_available']],
    ];

    it.each(invalid)('%s → 400 VALIDATION_FAILED naming the fields, stored as rejected', async (_name, body, fields) => {
      const events = await countEvents();
      const response = await sut.webhook(JSON.stringify(body));
      expect(response.status).toBe(400);
      const { error }: any = await response.json();
      expect(error.code).toBe('VALIDATION_FAILED');
      expect(error.details.map((detail: { field: string }) => detail.field).sort()).toEqual([...fields].sort());
      await expect(countEvents()).resolves.toBe(events + 1);
    });

    it.each([
      ['no token', { token: null }],
      ['a wrong token', { token: 'nope' }],
      ['an empty token', { token: '' }],
    ])('%s → 401 UNAUTHORIZED and nothing stored', async (_name, init) => {
      const [events, sessions] = [await countEvents(), await countSessions()];
      const response = await sut.webhook(withSession(fixture('completion-masked'), randomUUID()), init);
      expect(response.status).toBe(401);
      await expect(response.json()).resolves.toMatchObject({ error: { code: 'UNAUTHORIZED', details: [] } });
      await expect(countEvents()).resolves.toBe(events);
      await expect(countSessions()).resolves.toBe(sessions);
    });

    it('accepts the token as ?token= and any token of WEBHOOK_TOKENS (rotation)', async () => {
      const viaQuery = await fetch(`${sut.url}/v1/webhooks/finbox?token=next-token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(withSession(fixture('expiry'), randomUUID())),
      });
      expect(viaQuery.status).toBe(200);
      const viaHeader = await sut.webhook(withSession(fixture('expiry'), randomUUID()), { token: 'next-token' });
      expect(viaHeader.status).toBe(200);
    });

    it.each([
      ['malformed JSON', 400, 'MALFORMED_JSON', '{"session_id": "abc",', 'application/json'],
      ['an empty body', 400, 'MALFORMED_JSON', '', 'application/json'],
      ['text/plain', 415, 'UNSUPPORTED_MEDIA_TYPE', 'hello', 'text/plain'],
      ['a form', 415, 'UNSUPPORTED_MEDIA_TYPE', 'session_id=x', 'application/x-www-form-urlencoded'],
      ['an oversize body', 413, 'PAYLOAD_TOO_LARGE', JSON.stringify({ session_id: randomUUID(), pad: 'x'.repeat(1_048_576) }), 'application/json'],
    ])('%s → %i %s and nothing stored', async (_name, status, code, body, contentType) => {
      const events = await countEvents();
      const response = await sut.webhook(body, { contentType });
      expect(response.status).toBe(status);
      await expect(response.json()).resolves.toMatchObject({ error: { code, details: [] } });
      await expect(countEvents()).resolves.toBe(events);
    });

    it('stays healthy after all of it', async () => {
      expect((await fetch(`${sut.url}/health/ready`)).status).toBe(200);
    });
  });
});
