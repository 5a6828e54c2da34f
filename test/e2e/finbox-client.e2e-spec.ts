import { randomUUID } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { jest } from '@jest/globals';
import { FinboxClient, USER_AGENT } from '../../src/finbox/finbox.client.js';
import { FinboxError, type FinboxFailure } from '../../src/finbox/finbox.errors.js';
import { startSandbox, type Sandbox, type SandboxStats } from '../finbox-sandbox/sandbox.js';
import { startApp, type TestApp } from '../helpers/app.js';

/** Every credential configured in this file: none may ever appear in a log line or in /metrics. */
const SECRETS = {
  apiKey: `api-key-${randomUUID()}`,
  serverHash: `server-hash-${randomUUID()}`,
  wrongApiKey: `wrong-api-key-${randomUUID()}`,
};

/**
 * Everything the applications of this file log. nestjs-pino builds one root
 * logger per process, on the first application's configuration: so the spy is
 * installed before any application exists (pino then writes through
 * process.stdout.write) and every application here logs at debug level.
 */
const logged: string[] = [];
let stdout: ReturnType<typeof jest.spyOn>;
beforeAll(() => {
  stdout = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    logged.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  });
});
afterAll(() => stdout.mockRestore());

const TIMEOUT_MS = 250;
const MAX_RPS = 10;
const MAX_ATTEMPTS = 3;
const COOLDOWN_SECONDS = 1.5; // long enough for the checks made while the circuit is open, even on a loaded machine

function clientEnv(sandbox: Sandbox, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    FINBOX_BASE_URL: sandbox.baseUrl,
    FINBOX_API_KEY: sandbox.apiKey,
    FINBOX_SERVER_HASH: sandbox.serverHash,
    FINBOX_TIMEOUT_MS: String(TIMEOUT_MS),
    FINBOX_MAX_RPS: String(MAX_RPS),
    FINBOX_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
    FINBOX_BREAKER_COOLDOWN_SECONDS: String(COOLDOWN_SECONDS),
    LOG_LEVEL: 'debug',
    ...overrides,
  };
}

/** Resolves to the FinboxError the call failed with; fails the test if it succeeded or failed otherwise. */
async function failureOf(call: Promise<unknown>): Promise<FinboxError> {
  const error = await call.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  if (!(error instanceof FinboxError)) throw new Error(`expected a FinboxError, got ${String(error)}`);
  return error;
}

/** Milliseconds between the first and the last request the sandbox saw. */
function span(stats: SandboxStats): number {
  return Date.parse(stats.last_request_at ?? '') - Date.parse(stats.first_request_at ?? '');
}

async function readiness(testApp: TestApp): Promise<{ status: number; body: any }> {
  const response = await fetch(`${testApp.url}/health/ready`);
  return { status: response.status, body: await response.json() };
}

describe('FinboxClient against the FinBox sandbox', () => {
  let sandbox: Sandbox;
  let testApp: TestApp;
  let sut: FinboxClient;
  /** A session that answers 200 IN_PROGRESS for the whole run. */
  let healthy: string;

  /** Waits out an open circuit, then closes it (and resets its failure count) with a successful call. */
  async function closeCircuit(): Promise<void> {
    while (sut.health().circuit === 'open') await sleep(50);
    sandbox.clearFaults();
    await sut.getUploadStatus(healthy);
  }

  beforeAll(async () => {
    sandbox = await startSandbox({ apiKey: SECRETS.apiKey, serverHash: SECRETS.serverHash });
    testApp = await startApp(clientEnv(sandbox));
    sut = testApp.app.get(FinboxClient);
    healthy = sandbox.createSession({ complete_after_ms: null }).session_id;
  });
  afterAll(async () => {
    await testApp?.close();
    await sandbox?.close();
  });
  beforeEach(() => sandbox.reset());
  afterEach(async () => {
    await closeCircuit();
    expect(sut.health().circuit).toBe('closed');
  });

  describe('success', () => {
    it('returns the parsed, normalised upload status with the raw body', async () => {
      const { session_id } = sandbox.createSession({ complete_after_ms: 0, accounts: 2 });
      const view = sandbox.describeSession(session_id);

      const result = await sut.getUploadStatus(session_id);

      expect(result.status).toBe(200);
      expect(result.durationMs).toBeGreaterThanOrEqual(0);
      expect(result.data).toMatchObject({ session_id, upload_status: 'COMPLETED' });
      // session_expiry_timestamp comes as "YYYY-MM-DD HH:MM:SS" in UTC: whole seconds.
      expect(result.data.expires_at).toEqual(new Date(Math.floor(Date.parse(view.expires_at) / 1000) * 1000));
      expect(result.data.session_date_range).toEqual({
        from_date: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/),
        to_date: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/),
      });
      expect(result.data.accounts).toHaveLength(2);
      result.data.accounts.forEach((account, index) => {
        expect(account).toMatchObject({
          account_id: view.accounts[index].account_id,
          account_number: view.accounts[index].account_number,
          account_status: 'COMPLETED',
          created_at: expect.any(Date),
          last_updated_at: expect.any(Date),
          missing_data: [],
        });
        expect(account.statements).toEqual([
          expect.objectContaining({
            statement_id: view.accounts[index].statement_id,
            error_code: null, // "" from FinBox
            error_message: null,
            created_at: expect.any(Date),
            statement_date_range: { from_date: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/), to_date: expect.any(String) },
          }),
        ]);
      });
      const raw = result.raw as { accounts: { created_at: string; statements: { created_at: string }[] }[] };
      expect(raw.accounts[0].created_at).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
      expect(result.data.accounts[0].created_at?.toISOString()).toBe(`${raw.accounts[0].created_at.replace(' ', 'T')}.000Z`);
      expect(result.data.accounts[0].statements[0].created_at?.toISOString()).toBe(
        raw.accounts[0].statements[0].created_at.slice(0, 23) + 'Z',
      );
      expect(sandbox.stats()).toMatchObject({ total_requests: 1, by_status: { '200': 1 } });
    });

    it('reads a session still in progress', async () => {
      const result = await sut.getUploadStatus(healthy);
      expect(result.data).toMatchObject({ session_id: healthy, upload_status: 'IN_PROGRESS' });
      expect(result.data.accounts[0].missing_data).toEqual([
        { from_date: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/), to_date: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/) },
      ]);
    });

    it('registers a webhook URL, always with webhook_mode', async () => {
      const url = 'https://reconciler.example.com/v1/webhooks/finbox?token=t0k3n';
      const result = await sut.updateWebhook(url, 1);
      expect(result).toMatchObject({ status: 200, raw: { message: 'success' } });
      expect(sandbox.registeredWebhook()).toEqual({ webhook_url: url, webhook_mode: 1 });
    });
  });

  describe('error mapping', () => {
    it('maps 404 SESSION_NOT_FOUND to not_found, without retrying', async () => {
      const error = await failureOf(sut.getUploadStatus(randomUUID()));
      expect(error).toMatchObject({ kind: 'not_found', httpStatus: 404 });
      expect(sandbox.stats()).toMatchObject({ total_requests: 1, by_status: { '404': 1 } });
    });

    it('maps 410 SESSION_DELETED to deleted, without retrying', async () => {
      const { session_id } = sandbox.createSession();
      sandbox.deleteSession(session_id);
      const error = await failureOf(sut.getUploadStatus(session_id));
      expect(error).toMatchObject({ kind: 'deleted', httpStatus: 410 });
      expect(sandbox.stats()).toMatchObject({ total_requests: 1, by_status: { '410': 1 } });
    });

    it.each([
      [403, 'ACCESS_DENIED body'],
      [401, '{"detail"} body'],
    ])('maps %i with an %s to access_denied, opens the circuit at once, no retry', async (status) => {
      sandbox.addFault({ type: 'status', status, times: 1 });

      const error = await failureOf(sut.getUploadStatus(healthy));

      expect(error).toMatchObject({ kind: 'access_denied', httpStatus: status });
      expect(sandbox.stats()).toMatchObject({ total_requests: 1, by_status: { [String(status)]: 1 } });
      expect(sut.health()).toMatchObject({ circuit: 'open', credentials: 'rejected' });
      const next = await failureOf(sut.getUploadStatus(healthy));
      expect(next.kind).toBe('circuit_open');
      expect(sandbox.stats().total_requests).toBe(1);
    });

    it('maps 429 to rate_limited after FINBOX_MAX_ATTEMPTS attempts', async () => {
      sandbox.addFault({ type: 'status', status: 429 });
      const error = await failureOf(sut.getUploadStatus(healthy));
      expect(error).toMatchObject({ kind: 'rate_limited', httpStatus: 429 });
      expect(sandbox.stats()).toMatchObject({ total_requests: MAX_ATTEMPTS, by_status: { '429': MAX_ATTEMPTS } });
    });

    it.each([500, 503])('maps %i to unavailable after FINBOX_MAX_ATTEMPTS attempts', async (status) => {
      sandbox.addFault({ type: 'status', status });
      const error = await failureOf(sut.getUploadStatus(healthy));
      expect(error).toMatchObject({ kind: 'unavailable', httpStatus: status });
      expect(sandbox.stats()).toMatchObject({ total_requests: MAX_ATTEMPTS, by_status: { [String(status)]: MAX_ATTEMPTS } });
    });

    it('maps a connection reset to unavailable after FINBOX_MAX_ATTEMPTS attempts', async () => {
      sandbox.addFault({ type: 'reset' });
      const error = await failureOf(sut.getUploadStatus(healthy));
      expect(error).toMatchObject({ kind: 'unavailable', httpStatus: null });
      expect(sandbox.stats()).toMatchObject({ total_requests: MAX_ATTEMPTS, by_status: { reset: MAX_ATTEMPTS } });
    });

    // The test's own time limit is the bound: without a working per-request timeout the hanging server never answers.
    it(
      'gives up on a hanging server after FINBOX_TIMEOUT_MS per attempt: timeout',
      async () => {
        sandbox.addFault({ type: 'hang' });
        const error = await failureOf(sut.getUploadStatus(healthy));
        expect(error).toMatchObject({ kind: 'timeout', httpStatus: null });
        expect(error.message).toContain(`${TIMEOUT_MS} ms`);
        expect(sandbox.stats()).toMatchObject({ total_requests: MAX_ATTEMPTS, by_status: { hang: MAX_ATTEMPTS } });
      },
      MAX_ATTEMPTS * TIMEOUT_MS + 2_500,
    );

    it('maps a 200 with an unreadable body to invalid_response, without retrying', async () => {
      sandbox.addFault({ type: 'status', status: 200 }); // {"error": {"code": "OK", ...}}: not an upload status
      const error = await failureOf(sut.getUploadStatus(healthy));
      expect(error).toMatchObject({ kind: 'invalid_response', httpStatus: 200 });
      expect(error.message).toContain('upload_status');
      expect(sandbox.stats().total_requests).toBe(1);
    });

    it('maps an unexpected 4xx to invalid_response, without retrying', async () => {
      sandbox.addFault({ type: 'status', status: 400 });
      const error = await failureOf(sut.getUploadStatus(healthy));
      expect(error).toMatchObject({ kind: 'invalid_response', httpStatus: 400 });
      expect(sandbox.stats().total_requests).toBe(1);
    });
  });

  describe('retries', () => {
    it('retries transient failures and returns the eventual success', async () => {
      sandbox.addFault({ type: 'status', status: 503, times: 2 });
      const result = await sut.getUploadStatus(healthy);
      expect(result).toMatchObject({ status: 200, data: { session_id: healthy } });
      expect(sandbox.stats()).toMatchObject({ total_requests: 3, by_status: { '503': 2, '200': 1 } });
      sandbox.addFault({ type: 'hang', times: 1 }); // a timeout is retried too
      await expect(sut.getUploadStatus(healthy)).resolves.toMatchObject({ status: 200 });
      expect(sandbox.stats()).toMatchObject({ total_requests: 5, by_status: { hang: 1, '200': 2 } });
    });

    it('waits Retry-After (seconds) before retrying', async () => {
      sandbox.addFault({ type: 'status', status: 503, retry_after: '1', times: 1 });
      await expect(sut.getUploadStatus(healthy)).resolves.toMatchObject({ status: 200 });
      const stats = sandbox.stats();
      expect(stats.total_requests).toBe(2);
      expect(span(stats)).toBeGreaterThanOrEqual(1_000 - 10); // timestamps are whole milliseconds
    });

    it('waits Retry-After (HTTP date) before retrying', async () => {
      // Two whole seconds ahead: an HTTP date has a resolution of one second.
      const retryAt = (Math.floor(Date.now() / 1000) + 2) * 1000;
      sandbox.addFault({ type: 'status', status: 429, retry_after: new Date(retryAt).toUTCString(), times: 1 });
      await expect(sut.getUploadStatus(healthy)).resolves.toMatchObject({ status: 200 });
      const stats = sandbox.stats();
      expect(stats.total_requests).toBe(2);
      expect(Date.parse(stats.last_request_at ?? '')).toBeGreaterThanOrEqual(retryAt - 10);
      expect(span(stats)).toBeGreaterThanOrEqual(1_000 - 10);
    });

    it('does not wait inside a call for a Retry-After over 30 s: the session backs off instead', async () => {
      sandbox.addFault({ type: 'status', status: 429, retry_after: '120', times: 1 });
      const error = await failureOf(sut.getUploadStatus(healthy));
      expect(error).toMatchObject({ kind: 'rate_limited', retryAfterMs: 120_000 });
      expect(sandbox.stats().total_requests).toBe(1);
    });
  });

  describe('circuit breaker', () => {
    it('opens after repeated failures, fails fast while open, and recovers after the cool-down', async () => {
      sandbox.addFault({ type: 'status', status: 503 });

      await expect(failureOf(sut.getUploadStatus(healthy))).resolves.toMatchObject({ kind: 'unavailable' });
      // The fifth failed attempt in a row opens it, in the middle of this call's retries.
      await expect(failureOf(sut.getUploadStatus(healthy))).resolves.toMatchObject({ kind: 'circuit_open' });
      expect(sandbox.stats().total_requests).toBe(5);
      expect(sut.health()).toMatchObject({ circuit: 'open', credentials: 'accepted' });

      sandbox.resetStats();
      for (let i = 0; i < 3; i += 1) {
        await expect(failureOf(sut.getUploadStatus(healthy))).resolves.toMatchObject({ kind: 'circuit_open' });
      }
      expect(sandbox.stats().total_requests).toBe(0);
      const ready = await readiness(testApp);
      expect(ready.status).toBe(200);
      expect(ready.body.details.finbox).toMatchObject({ status: 'degraded', circuit: 'open' });

      // After the cool-down one trial request goes through; it fails, so the circuit opens again.
      while (sut.health().circuit === 'open') await sleep(25);
      await expect(failureOf(sut.getUploadStatus(healthy))).resolves.toMatchObject({ kind: 'circuit_open' });
      expect(sandbox.stats().total_requests).toBe(1);
      expect(sut.health().circuit).toBe('open');

      // FinBox is back: the next trial succeeds and closes the circuit.
      sandbox.clearFaults();
      while (sut.health().circuit === 'open') await sleep(25);
      await expect(sut.getUploadStatus(healthy)).resolves.toMatchObject({ status: 200 });
      expect(sandbox.stats().total_requests).toBe(2);
      expect(sut.health().circuit).toBe('closed');
      const after = await readiness(testApp);
      expect(after.body.details.finbox).toMatchObject({ status: 'up', circuit: 'closed', credentials: 'accepted' });
    });

    it('does not count not_found or deleted as failures', async () => {
      const { session_id: deleted } = sandbox.createSession();
      sandbox.deleteSession(deleted);
      for (let i = 0; i < 3; i += 1) {
        await expect(failureOf(sut.getUploadStatus(randomUUID()))).resolves.toMatchObject({ kind: 'not_found' });
        await expect(failureOf(sut.getUploadStatus(deleted))).resolves.toMatchObject({ kind: 'deleted' });
      }
      expect(sut.health().circuit).toBe('closed');
      expect(sandbox.stats().total_requests).toBe(6);
    });
  });

  describe('rate limit', () => {
    it('never exceeds FINBOX_MAX_RPS with 50 concurrent callers, retries included, and stays close to it', async () => {
      const sessions = Array.from({ length: 50 }, () => sandbox.createSession({ complete_after_ms: null }).session_id);
      // Two sessions always fail: their retries must take rate slots like every other attempt.
      for (const session_id of sessions.slice(0, 2)) sandbox.addFault({ type: 'status', status: 503, session_id });
      sandbox.resetStats();

      const deadline = Date.now() + 2_000;
      const outcomes = { ok: 0, failed: 0 };
      await Promise.all(
        sessions.map(async (session_id) => {
          while (Date.now() < deadline) {
            try {
              await sut.getUploadStatus(session_id);
              outcomes.ok += 1;
            } catch (error) {
              if (!(error instanceof FinboxError) || error.kind !== 'unavailable') throw error;
              outcomes.failed += 1;
            }
          }
        }),
      );

      const stats = sandbox.stats();
      const seconds = span(stats) / 1000;
      const achieved = (stats.total_requests - 1) / seconds;
      expect(stats.max_in_any_1s_window).toBeLessThanOrEqual(MAX_RPS);
      expect(stats.max_per_second).toBeLessThanOrEqual(MAX_RPS);
      expect(achieved).toBeGreaterThanOrEqual(0.9 * MAX_RPS);
      expect(stats.total_requests).toBe(outcomes.ok + outcomes.failed * MAX_ATTEMPTS);
      expect(stats.by_status['503']).toBe(outcomes.failed * MAX_ATTEMPTS);
      expect(outcomes.failed).toBeGreaterThan(0);
      expect(stats.max_concurrent_per_session).toBe(1);
    }, 20_000);
  });
});

describe('FinboxClient request headers', () => {
  let sandbox: Sandbox;
  let proxy: Server;
  let testApp: TestApp;
  let sut: FinboxClient;
  const seen: { method: string; url: string; headers: IncomingHttpHeaders; body: string }[] = [];

  beforeAll(async () => {
    sandbox = await startSandbox();
    const upstream = new URL(sandbox.baseUrl);
    // A recording pass-through in front of the sandbox: what FinBox would receive.
    proxy = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: body.toString('utf8') });
        const forward = httpRequest(
          { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        forward.on('error', () => res.destroy());
        forward.end(body);
      });
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const { port } = proxy.address() as AddressInfo;
    testApp = await startApp(clientEnv(sandbox, { FINBOX_BASE_URL: `http://127.0.0.1:${port}${upstream.pathname}` }));
    sut = testApp.app.get(FinboxClient);
  });
  afterAll(async () => {
    await testApp?.close();
    proxy?.closeAllConnections();
    await new Promise((resolve) => proxy?.close(resolve));
    await sandbox?.close();
  });

  it('sends x-api-key, server-hash and a User-Agent naming the service', async () => {
    const { session_id } = sandbox.createSession();
    await expect(sut.getUploadStatus(session_id)).resolves.toMatchObject({ status: 200 }); // the sandbox checks the credentials
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({
      method: 'GET',
      url: `/bank-connect/v1/session_data/${session_id}/session_upload_status/`,
      headers: {
        'x-api-key': sandbox.apiKey,
        'server-hash': sandbox.serverHash,
        'user-agent': USER_AGENT,
        accept: 'application/json',
      },
    });
    expect(USER_AGENT).toMatch(/^finbox-session-reconciler\//);
  });

  it('posts the webhook registration as JSON with the same headers', async () => {
    seen.length = 0;
    await expect(sut.updateWebhook('https://reconciler.example.com/hook?token=abc', 1)).resolves.toMatchObject({ status: 200 });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({
      method: 'POST',
      url: '/bank-connect/v1/session_data/update_webhook/',
      headers: {
        'x-api-key': sandbox.apiKey,
        'server-hash': sandbox.serverHash,
        'user-agent': USER_AGENT,
        'content-type': expect.stringMatching(/^application\/json/),
      },
    });
    expect(JSON.parse(seen[0].body)).toEqual({ webhook_url: 'https://reconciler.example.com/hook?token=abc', webhook_mode: 1 });
  });
});

describe('FinboxClient with credentials FinBox rejects', () => {
  let sandbox: Sandbox;
  let testApp: TestApp;
  let sut: FinboxClient;

  beforeAll(async () => {
    sandbox = await startSandbox({ apiKey: SECRETS.apiKey, serverHash: SECRETS.serverHash });
    testApp = await startApp(clientEnv(sandbox, { FINBOX_API_KEY: SECRETS.wrongApiKey, FINBOX_BREAKER_COOLDOWN_SECONDS: '60' }));
    sut = testApp.app.get(FinboxClient);
  });
  afterAll(async () => {
    await testApp?.close();
    await sandbox?.close();
  });

  it('gets access_denied for a wrong key and opens the circuit at once', async () => {
    const { session_id } = sandbox.createSession();
    const error = await failureOf(sut.getUploadStatus(session_id));
    expect(error).toMatchObject({ kind: 'access_denied', httpStatus: 403 });
    expect(sandbox.stats()).toMatchObject({ total_requests: 1, by_status: { '403': 1 } });

    await expect(failureOf(sut.getUploadStatus(session_id))).resolves.toMatchObject({ kind: 'circuit_open' });
    expect(sandbox.stats().total_requests).toBe(1);
  });

  it('reports the rejected credentials and the open circuit in /health/ready (200, degraded)', async () => {
    const { status, body } = await readiness(testApp);
    expect(status).toBe(200);
    expect(body.details.finbox).toMatchObject({
      status: 'degraded',
      polling: 'enabled',
      circuit: 'open',
      credentials: 'rejected',
    });
    expect(body.details.database.status).toBe('up');
  });

  it('never writes the API key or the server hash to the logs or /metrics', async () => {
    const session_id = randomUUID();
    await testApp.api('/v1/sessions', { method: 'POST', body: JSON.stringify({ session_id }) });
    await testApp.api(`/v1/sessions/${session_id}/reconcile`, { method: 'POST' });
    const metrics = await (await fetch(`${testApp.url}/metrics`)).text();

    const logs = logged.join('');
    expect(logs).toContain('FinBox rejected the credentials'); // the capture works
    expect(metrics).toContain('finbox_requests_total{endpoint="session_upload_status",status="403"} 1');
    for (const secret of Object.values(SECRETS)) {
      expect(logs).not.toContain(secret);
      expect(metrics).not.toContain(secret);
    }
  });
});
