import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { SandboxError, startSandbox, type Sandbox, type SandboxOptions } from './sandbox.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const DMY = /^\d{2}\/\d{2}\/\d{4}$/;
const YMD = /^\d{4}-\d{2}-\d{2}$/;
const YM = /^\d{4}-\d{2}$/;
const PLAIN_DATE_TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/;
const ISO_MICROS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const OFFSET_MICROS = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}\+00:00$/;

interface Statement {
  statement_id: string;
  created_at: string;
  upload_file_name?: string;
  [field: string]: unknown;
}
interface Account {
  account_id: string;
  account_number: string;
  account_status: string;
  created_at: string;
  last_updated_at: string;
  missing_data: unknown[];
  statements: Statement[];
  [field: string]: unknown;
}
interface PollBody {
  session_id: string;
  upload_status: string;
  session_expiry_timestamp: string;
  accounts: Account[];
  [field: string]: unknown;
}
interface WebhookBody {
  session_id: string;
  event_name: string;
  accounts: Account[];
  [field: string]: unknown;
}

// ---- helpers ----------------------------------------------------------------

const started: Sandbox[] = [];
const cleanups: (() => Promise<void>)[] = [];

async function start(options?: SandboxOptions): Promise<Sandbox> {
  const sandbox = await startSandbox(options);
  started.push(sandbox);
  return sandbox;
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((sandbox) => sandbox.close()));
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

function credentials(sut: Sandbox): Record<string, string> {
  return { 'x-api-key': sut.apiKey, 'server-hash': sut.serverHash };
}

function statusUrl(sut: Sandbox, sessionId: string): string {
  return `${sut.baseUrl}/v1/session_data/${sessionId}/session_upload_status/`;
}

function poll(sut: Sandbox, sessionId: string, init: RequestInit = {}): Promise<Response> {
  return fetch(statusUrl(sut, sessionId), { headers: credentials(sut), ...init });
}

async function pollBody(sut: Sandbox, sessionId: string): Promise<PollBody> {
  const response = await poll(sut, sessionId);
  expect(response.status).toBe(200);
  return (await response.json()) as PollBody;
}

function updateWebhook(sut: Sandbox, body: string, headers = credentials(sut)): Promise<Response> {
  return fetch(`${sut.baseUrl}/v1/session_data/update_webhook/`, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body,
  });
}

async function control(sut: Sandbox, method: string, path: string, body?: unknown) {
  const response = await fetch(sut.controlUrl + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Resolves when probe() returns something truthy; fails after timeoutMs. */
async function waitFor<T>(probe: () => T, timeoutMs = 2000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(10);
  }
}

async function sleepUntil(epochMs: number): Promise<void> {
  await sleep(Math.max(0, epochMs - Date.now()));
}

interface Received {
  url: string;
  headers: IncomingHttpHeaders;
  body: WebhookBody;
  at: number;
}

/** A tiny webhook endpoint recording what it receives; answers `status`. */
async function startReceiver(status = 200): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({
        url: request.url ?? '',
        headers: request.headers,
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as WebhookBody,
        at: Date.now(),
      });
      response.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/finbox`, received };
}

/** The same instant written in the poll's and the webhook's statement format. */
function sameInstant(isoMicros: string, offsetMicros: string): boolean {
  return isoMicros.replace('T', ' ').replace('Z', '+00:00') === offsetMicros;
}

// ---- FinBox API ---------------------------------------------------------------

describe('authentication and errors', () => {
  it('answers 403 ACCESS_DENIED on both endpoints when a credential is missing or wrong', async () => {
    const sut = await start();
    const { session_id } = sut.createSession();
    const accessDenied = { error: { code: 'ACCESS_DENIED', message: 'Authentication credentials were not provided' } };

    const missing = await fetch(statusUrl(sut, session_id));
    expect(missing.status).toBe(403);
    await expect(missing.json()).resolves.toEqual(accessDenied);

    const wrongHash = await poll(sut, session_id, { headers: { 'x-api-key': sut.apiKey, 'server-hash': 'nope' } });
    expect(wrongHash.status).toBe(403);

    const update = await updateWebhook(sut, JSON.stringify({ webhook_url: 'http://x.test/', webhook_mode: 1 }), {
      'x-api-key': 'nope',
      'server-hash': sut.serverHash,
    });
    expect(update.status).toBe(403);
    await expect(update.json()).resolves.toEqual(accessDenied);
    expect(sut.registeredWebhook()).toBeUndefined();

    await expect(poll(sut, session_id).then((r) => r.status)).resolves.toBe(200);
  });

  it('answers 401 {"detail": ...} in the detail style, with custom credentials', async () => {
    const sut = await start({ authErrorStyle: 'detail', apiKey: 'k1', serverHash: 'h1' });
    const { session_id } = sut.createSession();

    const denied = await fetch(statusUrl(sut, session_id), { headers: { 'x-api-key': 'sandbox-api-key' } });
    expect(denied.status).toBe(401);
    await expect(denied.json()).resolves.toEqual({ detail: 'Invalid authentication credentials' });

    const allowed = await fetch(statusUrl(sut, session_id), { headers: { 'x-api-key': 'k1', 'server-hash': 'h1' } });
    expect(allowed.status).toBe(200);
  });

  it('answers 404 SESSION_NOT_FOUND for an unknown session', async () => {
    const sut = await start();
    const response = await poll(sut, 'no-such-session');
    expect(response.status).toBe(404);
    await expect(response.json()).resolves.toEqual({
      error: { code: 'SESSION_NOT_FOUND', message: 'The provided session ID is invalid' },
    });
  });

  it('answers 410 SESSION_DELETED once a session is deleted', async () => {
    const sut = await start();
    const { session_id } = sut.createSession();
    await expect(poll(sut, session_id).then((r) => r.status)).resolves.toBe(200);

    sut.deleteSession(session_id);
    const response = await poll(sut, session_id);
    expect(response.status).toBe(410);
    await expect(response.json()).resolves.toEqual({
      error: { code: 'SESSION_DELETED', message: 'The provided session ID has been deleted' },
    });
    expect(sut.describeSession(session_id).upload_status).toBe('DELETED');
    expect(() => sut.deleteSession('no-such-session')).toThrow(SandboxError);
  });

  it('accepts the upload-status path without its trailing slash', async () => {
    const sut = await start();
    const { session_id } = sut.createSession();
    const response = await fetch(statusUrl(sut, session_id).replace(/\/$/, ''), { headers: credentials(sut) });
    expect(response.status).toBe(200);
    await expect(response.json()).resolves.toMatchObject({ session_id });
  });

  it('serves under a custom base path', async () => {
    const sut = await start({ basePath: '/finbox/' });
    expect(sut.baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/finbox$/);
    const { session_id } = sut.createSession();
    await expect(poll(sut, session_id).then((r) => r.status)).resolves.toBe(200);
  });
});

describe('session timeline', () => {
  it('goes NO_UPLOAD → IN_PROGRESS → COMPLETED', async () => {
    const sut = await start();
    const { session_id } = sut.createSession({ in_progress_after_ms: 150, complete_after_ms: 400 });
    const createdAt = Date.now();

    const noUpload = await pollBody(sut, session_id);
    expect(noUpload.upload_status).toBe('NO_UPLOAD');
    expect(noUpload.accounts).toEqual([]);

    await sleepUntil(createdAt + 250);
    const inProgress = await pollBody(sut, session_id);
    expect(inProgress.upload_status).toBe('IN_PROGRESS');
    expect(inProgress.accounts).toHaveLength(1);
    expect(inProgress.accounts[0].account_status).toBe('PARTIAL');
    expect(inProgress.accounts[0].missing_data).toHaveLength(1);

    await sleepUntil(createdAt + 500);
    const completed = await pollBody(sut, session_id);
    expect(completed.upload_status).toBe('COMPLETED');
    const [account] = completed.accounts;
    expect(account.account_status).toBe('COMPLETED');
    expect(account.missing_data).toEqual([]);
    expect(account.account_id).toBe(inProgress.accounts[0].account_id);
    expect(account.account_number).toBe(inProgress.accounts[0].account_number);
    expect(account.created_at).toBe(inProgress.accounts[0].created_at);
    // last_updated_at moves with the status change (250 ms later, so it may stay in the same second).
    expect(account.last_updated_at >= inProgress.accounts[0].last_updated_at).toBe(true);
    expect(account.last_updated_at >= account.created_at).toBe(true);
  });

  it('expires a session that has not completed by its expiry, and it stays expired', async () => {
    const sut = await start();
    const { session_id } = sut.createSession({ complete_after_ms: 300, expire_after_ms: 100 });
    const createdAt = Date.now();

    await sleepUntil(createdAt + 150);
    const expired = await pollBody(sut, session_id);
    expect(expired.upload_status).toBe('EXPIRED');
    expect(expired.accounts.map((a) => a.account_status)).toEqual(['PARTIAL']);

    await sleepUntil(createdAt + 350);
    await expect(pollBody(sut, session_id)).resolves.toMatchObject({ upload_status: 'EXPIRED' });
    expect(sut.describeSession(session_id).completes_at).toBeNull();
  });

  it('keeps a completed session COMPLETED after its expiry time', async () => {
    const sut = await start();
    const { session_id } = sut.createSession({ complete_after_ms: 50, expire_after_ms: 150 });
    await sleep(250);
    await expect(pollBody(sut, session_id)).resolves.toMatchObject({ upload_status: 'COMPLETED' });
  });

  it('stays IN_PROGRESS when it never completes, until it expires', async () => {
    const sut = await start();
    const { session_id } = sut.createSession({ complete_after_ms: null, expire_after_ms: 200 });
    const createdAt = Date.now();
    await expect(pollBody(sut, session_id)).resolves.toMatchObject({ upload_status: 'IN_PROGRESS' });
    await sleepUntil(createdAt + 250);
    await expect(pollBody(sut, session_id)).resolves.toMatchObject({ upload_status: 'EXPIRED' });
  });

  it('sets session_expiry_timestamp to creation + expire_after_ms, in UTC without zone', async () => {
    const sut = await start();
    const before = Date.now();
    const { session_id, expires_at } = sut.createSession({ expire_after_ms: 90 * 60_000 });
    const body = await pollBody(sut, session_id);

    expect(body.session_expiry_timestamp).toMatch(PLAIN_DATE_TIME);
    const expiry = Date.parse(`${body.session_expiry_timestamp.replace(' ', 'T')}Z`);
    expect(Math.abs(expiry - (before + 90 * 60_000))).toBeLessThan(2000);
    expect(Math.abs(Date.parse(expires_at) - expiry)).toBeLessThan(1000);
  });

  it('rejects an invalid spec and a duplicate session id', async () => {
    const sut = await start();
    expect(() => sut.createSession({ complete_after_ms: -1 })).toThrow('complete_after_ms must be a number >= 0');
    expect(() => sut.createSession({ accounts: 1.5 })).toThrow(SandboxError);
    sut.createSession({ session_id: 'fixed-id' });
    expect(() => sut.createSession({ session_id: 'fixed-id' })).toThrow('already exists');
  });
});

describe('payload formats', () => {
  it('polls in FinBox format, accounts unmasked and stable', async () => {
    const sut = await start();
    const { session_id } = sut.createSession({ accounts: 2, complete_after_ms: null });
    const body = await pollBody(sut, session_id);

    const account = {
      account_id: expect.stringMatching(UUID),
      account_number: expect.stringMatching(/^\d{15}$/),
      bank_name: expect.any(String),
      account_status: 'PARTIAL',
      months: expect.arrayContaining([expect.stringMatching(YM)]),
      missing_data: [{ from_date: expect.stringMatching(YMD), to_date: expect.stringMatching(YMD) }],
      created_at: expect.stringMatching(PLAIN_DATE_TIME),
      last_updated_at: expect.stringMatching(PLAIN_DATE_TIME),
      statements: [
        {
          statement_id: expect.stringMatching(UUID),
          statement_status: 'completed',
          error_code: '',
          error_message: '',
          source: 'pdf',
          statement_date_range: { from_date: expect.stringMatching(DMY), to_date: expect.stringMatching(DMY) },
          created_at: expect.stringMatching(ISO_MICROS),
        },
      ],
    };
    expect(body).toEqual({
      session_id,
      session_date_range: { from_date: expect.stringMatching(DMY), to_date: expect.stringMatching(DMY) },
      upload_status: 'IN_PROGRESS',
      session_expiry_timestamp: expect.stringMatching(PLAIN_DATE_TIME),
      accounts: [account, account],
    });
    expect(body.accounts[0].account_id).not.toBe(body.accounts[1].account_id);
    expect((body.accounts[0].months as string[]).length).toBeGreaterThanOrEqual(6);

    const again = await pollBody(sut, session_id);
    expect(again.accounts).toEqual(body.accounts);
  });

  it('sends the completion webhook with masked account numbers and its own statement format', async () => {
    const receiver = await startReceiver();
    const sut = await start({ webhookUrl: receiver.url });
    const { session_id } = sut.createSession({ complete_after_ms: 50 });
    const polled = (await pollBody(sut, session_id)).accounts[0];

    const { body } = await waitFor(() => receiver.received[0]);
    expect(body).toEqual({
      session_id,
      event_name: 'SESSION_REQUIREMENT_COMPLETION_NOTIFICATION',
      message: 'Upload Completed',
      accounts: [
        {
          account_id: polled.account_id,
          account_number: `XXXXXXXXXXX${polled.account_number.slice(-4)}`,
          bank_name: polled.bank_name,
          account_status: 'COMPLETED',
          months: polled.months,
          missing_data: [],
          created_at: polled.created_at,
          last_updated_at: expect.stringMatching(PLAIN_DATE_TIME),
          statements: [
            {
              statement_id: polled.statements[0].statement_id,
              statement_status: 'completed',
              error_code: null,
              error_message: null,
              source: 'pdf',
              upload_file_name: expect.stringMatching(/\.pdf$/),
              statement_date_range: polled.statements[0].statement_date_range,
              created_at: expect.stringMatching(OFFSET_MICROS),
            },
          ],
        },
      ],
      session_date_range: expect.objectContaining({ from_date: expect.stringMatching(DMY) }),
    });
    expect(sameInstant(polled.statements[0].created_at, body.accounts[0].statements[0].created_at)).toBe(true);
  });
});

describe('update_webhook', () => {
  it('stores the URL and mode, then sends webhooks there, query string included', async () => {
    const receiver = await startReceiver();
    const sut = await start();
    const webhookUrl = `${receiver.url}?token=s3cret`;

    const response = await updateWebhook(sut, JSON.stringify({ webhook_url: webhookUrl, webhook_mode: 1 }));
    expect(response.status).toBe(200);
    await expect(response.json()).resolves.toEqual({ message: 'success' });
    expect(sut.registeredWebhook()).toEqual({ webhook_url: webhookUrl, webhook_mode: 1 });

    const { session_id } = sut.createSession({ complete_after_ms: 20 });
    const delivery = await waitFor(() => receiver.received[0]);
    expect(delivery.url).toBe('/webhooks/finbox?token=s3cret');
    expect(delivery.body.session_id).toBe(session_id);
  });

  it.each([
    ['a non-http URL', JSON.stringify({ webhook_url: 'ftp://example.com/hook', webhook_mode: 1 })],
    ['a missing URL', JSON.stringify({ webhook_mode: 1 })],
    ['text that is not a URL', JSON.stringify({ webhook_url: 'not a url', webhook_mode: 1 })],
    ['malformed JSON', '{"webhook_url": '],
  ])('answers 400 INVALID_REQUEST for %s', async (_case, body) => {
    const sut = await start();
    const response = await updateWebhook(sut, body);
    expect(response.status).toBe(400);
    await expect(response.json()).resolves.toEqual({
      error: { code: 'INVALID_REQUEST', message: expect.any(String) },
    });
    expect(sut.registeredWebhook()).toBeUndefined();
  });
});

describe('webhooks', () => {
  it('delivers the completion webhook as JSON and records the delivery', async () => {
    const receiver = await startReceiver();
    const sut = await start({ webhookUrl: receiver.url });
    const { session_id } = sut.createSession({ complete_after_ms: 50 });

    const delivery = await waitFor(() => receiver.received[0]);
    expect(delivery.headers['content-type']).toBe('application/json');
    await waitFor(() => sut.deliveries().length === 1);
    expect(sut.deliveries()[0]).toEqual({
      session_id,
      event_name: 'SESSION_REQUIREMENT_COMPLETION_NOTIFICATION',
      status: 200,
      at: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T.*Z$/),
      duplicate: false,
    });
  });

  it('sends the expiry webhook, and no completion, when the session expires first', async () => {
    const receiver = await startReceiver();
    const sut = await start({ webhookUrl: receiver.url });
    const { session_id } = sut.createSession({ complete_after_ms: null, expire_after_ms: 80 });

    const { body } = await waitFor(() => receiver.received[0]);
    expect(body).toMatchObject({ session_id, event_name: 'SESSION_EXPIRY_NOTIFICATION', message: 'Session expired' });
    expect(body.accounts[0].account_status).toBe('PARTIAL');
    await sleep(100);
    expect(receiver.received).toHaveLength(1);
  });

  it('drops webhooks when told to, unless the session overrides it', async () => {
    const receiver = await startReceiver();
    const sut = await start({ webhookUrl: receiver.url, webhookFaults: { drop: true } });
    const dropped = sut.createSession({ complete_after_ms: 30 });
    const kept = sut.createSession({ complete_after_ms: 30, webhooks: { drop: false } });

    await waitFor(() => sut.deliveries().length === 2);
    await sleep(50);
    expect(receiver.received.map((r) => r.body.session_id)).toEqual([kept.session_id]);
    const statusBySession = Object.fromEntries(sut.deliveries().map((d) => [d.session_id, d.status]));
    expect(statusBySession).toEqual({ [dropped.session_id]: -1, [kept.session_id]: 200 });
  });

  it('sends a webhook twice with the duplicate fault', async () => {
    const receiver = await startReceiver();
    const sut = await start({ webhookUrl: receiver.url });
    sut.createSession({ complete_after_ms: 30, webhooks: { duplicate: true } });

    await waitFor(() => sut.deliveries().length === 2);
    expect(receiver.received).toHaveLength(2);
    expect(receiver.received[1].body).toEqual(receiver.received[0].body);
    expect(sut.deliveries().map((d) => [d.status, d.duplicate])).toEqual([
      [200, false],
      [200, true],
    ]);
  });

  it('delays webhooks with delayMs (set after start-up)', async () => {
    const receiver = await startReceiver();
    const sut = await start({ webhookUrl: receiver.url });
    sut.setWebhookFaults({ delayMs: 300 });
    const createdAt = Date.now();
    sut.createSession({ complete_after_ms: 50 });

    await sleepUntil(createdAt + 250);
    expect(receiver.received).toHaveLength(0);
    const delivery = await waitFor(() => receiver.received[0]);
    expect(delivery.at - createdAt).toBeGreaterThanOrEqual(350);
  });

  it('sends the enrichment webhook after completion, in success and failure shapes', async () => {
    const receiver = await startReceiver();
    const sut = await start({ webhookUrl: receiver.url });
    const ok = sut.createSession({ complete_after_ms: 20, enrichment_after_ms: 50 });
    const failed = sut.createSession({ complete_after_ms: 20, enrichment_after_ms: 50, enrichment_failed: true });

    await waitFor(() => receiver.received.length === 4);
    const enrichment = (id: string) =>
      receiver.received.find((r) => r.body.session_id === id && r.body.event_name === 'ENRICHMENT_NOTIFICATION')?.body;
    const accountId = sut.describeSession(ok.session_id).accounts[0].account_id;
    expect(enrichment(ok.session_id)).toEqual({
      session_id: ok.session_id,
      insights_available: true,
      accounts: [
        {
          name: 'XXXXXXXXX',
          account_category: 'individual',
          account_id: accountId,
          bank_name: expect.any(String),
          error_code: '',
          error_message: '',
          account_status: 'completed',
          attempt_types: ['PDF'],
        },
      ],
      event_name: 'ENRICHMENT_NOTIFICATION',
    });
    expect(enrichment(failed.session_id)).toMatchObject({
      insights_available: false,
      accounts: [
        {
          account_status: 'failed',
          error_code: 'UNPARSABLE',
          error_message: 'Failed to process because of an unparsable statement',
        },
      ],
    });
    // Completion always comes first.
    expect(receiver.received.filter((r) => r.body.session_id === ok.session_id).map((r) => r.body.event_name)).toEqual([
      'SESSION_REQUIREMENT_COMPLETION_NOTIFICATION',
      'ENRICHMENT_NOTIFICATION',
    ]);
  });

  it("records the receiver's status, and 0 for a connection error", async () => {
    const failing = await startReceiver(500);
    const sut = await start({ webhookUrl: failing.url });
    const { session_id } = sut.createSession({ complete_after_ms: null });

    await expect(sut.fireWebhook(session_id, 'completion')).resolves.toBe(500);
    sut.setWebhookUrl('http://127.0.0.1:1/nothing-listens-here');
    await expect(sut.fireWebhook(session_id, 'expiry')).resolves.toBe(0);
    expect(sut.deliveries().map((d) => [d.event_name, d.status])).toEqual([
      ['SESSION_REQUIREMENT_COMPLETION_NOTIFICATION', 500],
      ['SESSION_EXPIRY_NOTIFICATION', 0],
    ]);
  });

  it('fires a webhook on demand, ignoring the webhook faults', async () => {
    const receiver = await startReceiver();
    const sut = await start({ webhookFaults: { drop: true } });
    const { session_id } = sut.createSession({ complete_after_ms: null });

    await expect(sut.fireWebhook(session_id, 'completion')).rejects.toThrow('no webhook URL');
    sut.setWebhookUrl(receiver.url);
    await expect(sut.fireWebhook(session_id, 'enrichment')).resolves.toBe(200);
    expect(receiver.received[0].body.event_name).toBe('ENRICHMENT_NOTIFICATION');
    await expect(sut.fireWebhook('no-such-session', 'completion')).rejects.toThrow(SandboxError);
  });

  it('cancels pending webhooks on delete and on close', async () => {
    const receiver = await startReceiver();
    const sut = await start({ webhookUrl: receiver.url });
    const deleted = sut.createSession({ complete_after_ms: 50 });
    sut.createSession({ complete_after_ms: 50, webhooks: { delayMs: 100 } });
    sut.deleteSession(deleted.session_id);

    await sleep(80); // the second session completed; its webhook waits for the delay
    await sut.close();
    await sleep(150);
    expect(receiver.received).toHaveLength(0);
    expect(sut.deliveries()).toEqual([]);
  });
});

describe('faults', () => {
  it('answers an injected status with Retry-After, for `times` requests', async () => {
    const sut = await start();
    const { session_id } = sut.createSession();
    sut.addFault({ type: 'status', status: 503, retry_after: '2', times: 2 });

    for (let i = 0; i < 2; i += 1) {
      const response = await poll(sut, session_id);
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('2');
      await expect(response.json()).resolves.toEqual({
        error: { code: 'SERVICE_UNAVAILABLE', message: 'Service Unavailable' },
      });
    }
    const third = await poll(sut, session_id);
    expect(third.status).toBe(200);
    expect(third.headers.get('retry-after')).toBeNull();
  });

  it.each([
    [401, { detail: 'Invalid authentication credentials' }],
    [403, { error: { code: 'ACCESS_DENIED', message: 'Authentication credentials were not provided' } }],
    [429, { error: { code: 'TOO_MANY_REQUESTS', message: 'Too Many Requests' } }],
    [500, { error: { code: 'INTERNAL_SERVER_ERROR', message: 'Internal Server Error' } }],
    [502, { error: { code: 'BAD_GATEWAY', message: 'Bad Gateway' } }],
  ])('answers an injected %i with FinBox-like body despite good credentials', async (status, body) => {
    const sut = await start();
    const { session_id } = sut.createSession();
    sut.addFault({ type: 'status', status });
    const response = await poll(sut, session_id);
    expect(response.status).toBe(status);
    await expect(response.json()).resolves.toEqual(body);
  });

  it('applies faults only to their session or endpoint, first match winning, until cleared', async () => {
    const sut = await start();
    const a = sut.createSession();
    const b = sut.createSession();
    sut.addFault({ type: 'status', status: 502, session_id: a.session_id });
    sut.addFault({ type: 'status', status: 500, endpoint: 'update_webhook' });
    sut.addFault({ type: 'status', status: 503 });

    await expect(poll(sut, a.session_id).then((r) => r.status)).resolves.toBe(502);
    await expect(poll(sut, b.session_id).then((r) => r.status)).resolves.toBe(503);
    const update = await updateWebhook(sut, JSON.stringify({ webhook_url: 'http://x.test/', webhook_mode: 1 }));
    expect(update.status).toBe(500);

    sut.clearFaults();
    await expect(poll(sut, a.session_id).then((r) => r.status)).resolves.toBe(200);
  });

  it('hangs: no answer until the client gives up', async () => {
    const sut = await start();
    const { session_id } = sut.createSession();
    sut.addFault({ type: 'hang', times: 1 });

    const startedAt = Date.now();
    await expect(poll(sut, session_id, { signal: AbortSignal.timeout(300) })).rejects.toThrow();
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(290);
    expect(sut.stats().by_status).toEqual({ hang: 1 });
    await expect(poll(sut, session_id).then((r) => r.status)).resolves.toBe(200);
  });

  it('resets the connection without an answer', async () => {
    const sut = await start();
    const { session_id } = sut.createSession();
    sut.addFault({ type: 'reset', times: 1 });

    await expect(poll(sut, session_id)).rejects.toThrow('fetch failed');
    expect(sut.stats().by_status).toEqual({ reset: 1 });
    await expect(poll(sut, session_id).then((r) => r.status)).resolves.toBe(200);
  });

  it('adds latency: per fault, and to every response', async () => {
    const sut = await start();
    const { session_id } = sut.createSession();
    const timed = async () => {
      const startedAt = performance.now();
      const response = await poll(sut, session_id);
      expect(response.status).toBe(200);
      return performance.now() - startedAt;
    };

    sut.addFault({ type: 'latency', latency_ms: 200, times: 1 });
    expect(await timed()).toBeGreaterThanOrEqual(195);
    expect(await timed()).toBeLessThan(150);

    sut.setLatency(150);
    expect(await timed()).toBeGreaterThanOrEqual(145);
  });

  it('rejects an incomplete fault', async () => {
    const sut = await start();
    expect(() => sut.addFault({ type: 'status' })).toThrow('status is required');
    expect(() => sut.addFault({ type: 'latency' })).toThrow('latency_ms is required');
  });
});

describe('stats', () => {
  it('counts requests by endpoint, status and session', async () => {
    const sut = await start();
    const a = sut.createSession();
    await poll(sut, a.session_id);
    await poll(sut, a.session_id);
    await poll(sut, 'unknown');
    await updateWebhook(sut, JSON.stringify({ webhook_url: 'http://x.test/', webhook_mode: 1 }));
    await fetch(statusUrl(sut, a.session_id)); // no credentials
    await control(sut, 'GET', '/stats'); // not counted

    const stats = sut.stats();
    expect(stats).toMatchObject({
      total_requests: 5,
      by_endpoint: { upload_status: 4, update_webhook: 1 },
      by_status: { '200': 3, '404': 1, '403': 1 },
      polls_by_session: { [a.session_id]: 3, unknown: 1 },
    });
    expect(Object.values(stats.per_second).reduce((sum, n) => sum + n, 0)).toBe(5);
    expect(stats.first_request_at! <= stats.last_request_at!).toBe(true);

    sut.resetStats();
    expect(sut.stats()).toMatchObject({ total_requests: 0, by_status: {}, first_request_at: null, max_concurrent: 0 });
  });

  it('measures the busiest sliding second apart from calendar seconds', async () => {
    const sut = await start();
    const { session_id } = sut.createSession();
    const burst = () => Promise.all(Array.from({ length: 3 }, () => poll(sut, session_id)));

    // One burst late in a second, the next early in the following one: 6 within 1 s, 3 per calendar second.
    await sleep((1700 - (Date.now() % 1000)) % 1000);
    await burst();
    await sleep(1100 - (Date.now() % 1000));
    await burst();

    const stats = sut.stats();
    expect(stats.total_requests).toBe(6);
    expect(Object.keys(stats.per_second)).toHaveLength(2);
    expect(stats.max_per_second).toBe(3);
    expect(stats.max_in_any_1s_window).toBe(6);

    // Bursts more than a second apart never share a window.
    sut.resetStats();
    await burst();
    await sleep(1050);
    await burst();
    expect(sut.stats()).toMatchObject({ total_requests: 6, max_in_any_1s_window: 3 });
  });

  it('measures concurrency overall and per session', async () => {
    const sut = await start({ latencyMs: 200 });
    const a = sut.createSession();
    const b = sut.createSession();
    const responses = await Promise.all([
      ...Array.from({ length: 4 }, () => poll(sut, a.session_id)),
      ...Array.from({ length: 2 }, () => poll(sut, b.session_id)),
    ]);
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(sut.stats()).toMatchObject({ max_concurrent: 6, max_concurrent_per_session: 4 });

    // Sequential requests afterwards do not raise it.
    sut.resetStats();
    await poll(sut, a.session_id);
    await poll(sut, a.session_id);
    expect(sut.stats()).toMatchObject({ max_concurrent: 1, max_concurrent_per_session: 1 });
  });
});

describe('control API', () => {
  it('creates, inspects, fires and deletes sessions', async () => {
    const receiver = await startReceiver();
    const sut = await start();

    const spec = { session_id: 'ctl-1', complete_after_ms: null, accounts: 2 };
    const created = await control(sut, 'POST', '/sessions', spec);
    expect(created).toEqual({ status: 201, body: { session_id: 'ctl-1', expires_at: expect.any(String) } });
    await expect(control(sut, 'POST', '/sessions', { session_id: 'ctl-1' })).resolves.toMatchObject({ status: 409 });
    await expect(control(sut, 'POST', '/sessions', { expire_after_ms: 'soon' })).resolves.toMatchObject({
      status: 400,
      body: { error: { code: 'BAD_REQUEST', message: 'expire_after_ms must be a number >= 0' } },
    });

    const view = await control(sut, 'GET', '/sessions/ctl-1');
    expect(view.status).toBe(200);
    expect(view.body).toMatchObject({ session_id: 'ctl-1', upload_status: 'IN_PROGRESS', completes_at: null });
    expect(view.body.accounts).toHaveLength(2);
    await expect(control(sut, 'GET', '/sessions/nope')).resolves.toMatchObject({ status: 404 });

    await expect(control(sut, 'PUT', '/webhook', { url: receiver.url })).resolves.toMatchObject({ status: 200 });
    await expect(control(sut, 'POST', '/sessions/ctl-1/webhooks/completion')).resolves.toEqual({
      status: 200,
      body: { status: 200 },
    });
    expect(receiver.received[0].body.session_id).toBe('ctl-1');
    await expect(control(sut, 'POST', '/sessions/ctl-1/webhooks/bogus')).resolves.toMatchObject({ status: 400 });
    await expect(control(sut, 'GET', '/deliveries')).resolves.toMatchObject({
      body: [{ session_id: 'ctl-1', status: 200, duplicate: false }],
    });

    await expect(control(sut, 'POST', '/sessions/ctl-1/delete')).resolves.toMatchObject({ status: 200 });
    await expect(poll(sut, 'ctl-1').then((r) => r.status)).resolves.toBe(410);
  });

  it('sets webhook faults, faults, latency, and resets', async () => {
    const receiver = await startReceiver();
    const sut = await start();
    const { session_id } = sut.createSession({ complete_after_ms: null });

    const webhook = await control(sut, 'PUT', '/webhook', { url: receiver.url, drop: true, delay_ms: 10 });
    expect(webhook.body).toEqual({ url: receiver.url, faults: { drop: true, delayMs: 10 } });
    sut.createSession({ complete_after_ms: 20 });
    await waitFor(() => sut.deliveries()[0]?.status === -1);
    await expect(control(sut, 'PUT', '/webhook', { url: 'nope' })).resolves.toMatchObject({ status: 400 });
    await expect(control(sut, 'GET', '/webhook')).resolves.toMatchObject({ body: { url: receiver.url } });

    await expect(control(sut, 'POST', '/faults', { type: 'status', status: 429, retry_after: '1' })).resolves.toEqual({
      status: 201,
      body: { faults: 1 },
    });
    const limited = await poll(sut, session_id);
    expect([limited.status, limited.headers.get('retry-after')]).toEqual([429, '1']);
    await expect(control(sut, 'POST', '/faults', { type: 'explode' })).resolves.toMatchObject({ status: 400 });
    await expect(control(sut, 'DELETE', '/faults')).resolves.toMatchObject({ status: 200 });
    await expect(poll(sut, session_id).then((r) => r.status)).resolves.toBe(200);

    await expect(control(sut, 'PUT', '/latency', { latency_ms: 120 })).resolves.toEqual({
      status: 200,
      body: { latency_ms: 120 },
    });
    const startedAt = performance.now();
    await poll(sut, session_id);
    expect(performance.now() - startedAt).toBeGreaterThanOrEqual(115);
    await expect(control(sut, 'PUT', '/latency', {})).resolves.toMatchObject({ status: 400 });

    const stats = await control(sut, 'GET', '/stats');
    expect(stats.body).toMatchObject({ total_requests: 3, by_status: { '200': 2, '429': 1 } });

    await control(sut, 'POST', '/faults', { type: 'status', status: 500 });
    await expect(control(sut, 'POST', '/reset')).resolves.toMatchObject({ status: 200 });
    await expect(control(sut, 'GET', '/stats')).resolves.toMatchObject({ body: { total_requests: 0 } });
    await expect(control(sut, 'GET', '/deliveries')).resolves.toMatchObject({ body: [] });
    await expect(poll(sut, session_id).then((r) => r.status)).resolves.toBe(200); // the fault is gone
  });
});
