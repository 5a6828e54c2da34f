import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { startSandbox, type Sandbox } from '../finbox-sandbox/sandbox.js';
import { API_KEY, startApp, WEBHOOK_TOKEN, type TestApp } from '../helpers/app.js';
import { fixture, withSession } from '../helpers/fixtures.js';
import { body, eventually, expectError, register } from '../helpers/rest.js';

/** CONTRACT §4.3: /health/live, /health/ready, /metrics; and the API while the database is unreachable. */
describe('operations', () => {
  let sut: TestApp;
  let sandbox: Sandbox;

  beforeAll(async () => {
    sandbox = await startSandbox();
    sut = await startApp({
      FINBOX_BASE_URL: sandbox.baseUrl,
      FINBOX_API_KEY: sandbox.apiKey,
      FINBOX_SERVER_HASH: sandbox.serverHash,
      FINBOX_MAX_ATTEMPTS: '1',
    });
  });
  afterAll(async () => {
    await sut?.close();
    await sandbox?.close();
  });

  const metrics = async () => {
    const response = await fetch(`${sut.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return response.text();
  };
  /** The value of one sample, e.g. sample(text, 'polls_total{outcome="ok"}'). */
  const sample = (text: string, series: string): number | undefined => {
    const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
    return line === undefined ? undefined : Number(line.slice(series.length + 1));
  };

  describe('/health', () => {
    it('live: the process is up', async () => {
      const response = await fetch(`${sut.url}/health/live`);
      expect(response.status).toBe(200);
      await expect(response.json()).resolves.toEqual({ status: 'ok' });
    });

    it('ready: database and migrations up; polling enabled, circuit closed', async () => {
      const response = await fetch(`${sut.url}/health/ready`);
      expect(response.status).toBe(200);
      expect(response.headers.get('cache-control')).toMatch(/no-store/);
      const ready = await body(response);
      expect(ready).toMatchObject({
        status: 'ok',
        details: {
          database: { status: 'up' },
          migrations: { status: 'up' },
          finbox: { status: 'up', polling: 'enabled', circuit: 'closed' },
        },
      });
      const text = JSON.stringify(ready);
      for (const secret of [sandbox.apiKey, sandbox.serverHash, API_KEY, WEBHOOK_TOKEN]) expect(text).not.toContain(secret);
    });
  });

  describe('/metrics', () => {
    it("exports the service's metrics in Prometheus text format, and no secrets or ids", async () => {
      // Something to count: a webhook, a duplicate, a healed session (poll), a 404 poll and API calls.
      const webhookSession = randomUUID();
      const completion = withSession(fixture('completion-documented'), webhookSession);
      expect((await sut.webhook(completion)).status).toBe(200);
      expect((await sut.webhook(completion)).status).toBe(200);
      const { session_id: healed } = sandbox.createSession({ complete_after_ms: 0 });
      await register(sut, { session_id: healed });
      expect((await sut.api(`/v1/sessions/${healed}/reconcile`, { method: 'POST' })).status).toBe(200);
      const { session: waiting } = await register(sut, { reference: 'waiting' });
      expect((await sut.api(`/v1/sessions/${waiting.session_id}`)).status).toBe(200);

      const text = await metrics();
      for (const [name, type] of [
        ['webhook_events_total', 'counter'],
        ['polls_total', 'counter'],
        ['sessions_healed_total', 'counter'],
        ['finbox_requests_total', 'counter'],
        ['finbox_request_duration_seconds', 'histogram'],
        ['sessions_awaiting_completion', 'gauge'],
        ['http_request_duration_seconds', 'histogram'],
        ['process_cpu_user_seconds_total', 'counter'],
        ['process_resident_memory_bytes', 'gauge'],
        ['nodejs_eventloop_lag_seconds', 'gauge'],
        ['nodejs_heap_size_used_bytes', 'gauge'],
      ]) {
        expect({ name, help: text.includes(`# HELP ${name} `), type: text.includes(`# TYPE ${name} ${type}\n`) }).toEqual({ name, help: true, type: true });
      }
      expect(sample(text, 'webhook_events_total{event="SESSION_REQUIREMENT_COMPLETION_NOTIFICATION",outcome="applied"}')).toBe(1);
      expect(sample(text, 'webhook_events_total{event="SESSION_REQUIREMENT_COMPLETION_NOTIFICATION",outcome="duplicate"}')).toBe(1);
      expect(sample(text, 'polls_total{outcome="ok"}')).toBe(1);
      expect(sample(text, 'sessions_healed_total')).toBe(1);
      expect(sample(text, 'finbox_requests_total{endpoint="session_upload_status",status="200"}')).toBe(1);
      expect(sample(text, 'finbox_request_duration_seconds_count{endpoint="session_upload_status"}')).toBe(1);
      // Queue gauges read from the database at scrape time: the registered, unpolled session is awaiting completion.
      const client = new pg.Client({ connectionString: sut.db.url });
      await client.connect();
      const { rows } = await client
        .query(`SELECT count(*)::int AS n FROM sessions WHERE status IN ('NO_UPLOAD', 'IN_PROGRESS') AND gave_up_at IS NULL`)
        .finally(() => client.end());
      expect(rows[0].n).toBeGreaterThanOrEqual(1);
      expect(sample(text, 'sessions_awaiting_completion')).toBe(rows[0].n);
      // HTTP durations by route pattern, never by concrete path (ids would explode the label set).
      expect(text).toMatch(/http_request_duration_seconds_count\{method="GET",route="\/v1\/sessions\/:session_id",status_code="200"\} \d+/);
      expect(text).toMatch(/http_request_duration_seconds_count\{method="POST",route="\/v1\/webhooks\/finbox",status_code="200"\} \d+/);

      for (const secret of [sandbox.apiKey, sandbox.serverHash, API_KEY, WEBHOOK_TOKEN, 'postgres://']) expect(text).not.toContain(secret);
      for (const id of [webhookSession, healed, waiting.session_id, '5413699704']) expect(text).not.toContain(id);
    });

    it('does not put request paths in labels, even for unknown routes', async () => {
      const probe = `no-such-route-${randomUUID()}`;
      expect((await fetch(`${sut.url}/${probe}`)).status).toBe(404);
      expect((await sut.api(`/v1/sessions/${probe}`)).status).toBe(400);
      const text = await metrics();
      expect(text).not.toContain(probe);
      expect(text).toMatch(/http_request_duration_seconds_count\{method="GET",route="unmatched",status_code="404"\} \d+/);
    });
  });

  describe('when the database is unreachable', () => {
    /** Blocks new connections to the app's database and ends the open ones, from a connection to another database. */
    async function withDatabaseDown(work: () => Promise<void>): Promise<void> {
      const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
      admin.on('error', () => undefined);
      await admin.connect();
      const name = pg.escapeIdentifier(sut.db.name);
      try {
        await admin.query(`ALTER DATABASE ${name} WITH ALLOW_CONNECTIONS false`);
        await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [sut.db.name]);
        await work();
      } finally {
        await admin.query(`ALTER DATABASE ${name} WITH ALLOW_CONNECTIONS true`);
        await admin.end();
      }
    }

    it('answers 503 SERVICE_UNAVAILABLE (never a 500), reports not ready, and recovers when it is back', async () => {
      const { session } = await register(sut, { reference: 'outage' });
      const id = session.session_id;
      await withDatabaseDown(async () => {
        const ready = await expectError(await fetch(`${sut.url}/health/ready`), 503, 'SERVICE_UNAVAILABLE');
        expect(JSON.stringify(ready)).toMatch(/database/);
        const requests: Array<[string, RequestInit?]> = [
          [`/v1/sessions/${id}`],
          [`/v1/sessions/${id}`], // again: no half-broken pooled connection turns into a 500
          ['/v1/sessions?limit=5'],
          [`/v1/sessions/${id}/events`],
          ['/v1/sessions', { method: 'POST', body: JSON.stringify({ session_id: randomUUID() }) }],
          [`/v1/sessions/${id}/reconcile`, { method: 'POST' }],
        ];
        for (const [path, init] of requests) {
          const response = await sut.api(path, init);
          await expectError(response, 503, 'SERVICE_UNAVAILABLE');
        }
        await expectError(await sut.webhook(withSession(fixture('expiry'), randomUUID())), 503, 'SERVICE_UNAVAILABLE');
        // The process itself is fine, and still answers what does not need the database.
        expect((await fetch(`${sut.url}/health/live`)).status).toBe(200);
        expect((await fetch(`${sut.url}/metrics`)).status).toBe(200);
        await expectError(await sut.api('/v1/sessions/nope'), 400, 'VALIDATION_FAILED');
      });

      await eventually(async () => ((await fetch(`${sut.url}/health/ready`)).status === 200 ? true : undefined));
      await expect((await sut.api(`/v1/sessions/${id}`)).json()).resolves.toMatchObject({ session_id: id, reference: 'outage' });
      const text = await metrics();
      expect(text).toMatch(/http_request_duration_seconds_count\{method="GET",route="\/v1\/sessions\/:session_id",status_code="503"\} [1-9]/);
    });
  });
});
