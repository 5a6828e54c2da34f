import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startSandbox, type Sandbox } from '../finbox-sandbox/sandbox.js';
import { API_KEY, startApp, type TestApp } from '../helpers/app.js';

const TOKEN = `webhook-token-${randomUUID()}`;
const PUBLIC_WEBHOOK_URL = `https://reconciler.example.com/v1/webhooks/finbox?token=${TOKEN}`;
const REDACTED_URL = 'https://reconciler.example.com/v1/webhooks/finbox?token=REDACTED';

function finboxEnv(sandbox: Sandbox, overrides: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    FINBOX_BASE_URL: sandbox.baseUrl,
    FINBOX_API_KEY: sandbox.apiKey,
    FINBOX_SERVER_HASH: sandbox.serverHash,
    FINBOX_BREAKER_COOLDOWN_SECONDS: '0.2',
    PUBLIC_WEBHOOK_URL,
    ...overrides,
  };
}

function register(testApp: TestApp, headers: Record<string, string> = { 'x-api-key': API_KEY }): Promise<Response> {
  return fetch(`${testApp.url}/v1/finbox/webhook`, { method: 'PUT', headers });
}

describe('PUT /v1/finbox/webhook', () => {
  let sandbox: Sandbox;
  let testApp: TestApp;

  beforeAll(async () => {
    sandbox = await startSandbox();
    testApp = await startApp(finboxEnv(sandbox)); // FINBOX_WEBHOOK_MODE unset: its default, 1
  });
  afterAll(async () => {
    await testApp?.close();
    await sandbox?.close();
  });
  beforeEach(() => sandbox.reset());

  it('registers PUBLIC_WEBHOOK_URL with webhook_mode 1 and answers with the token redacted', async () => {
    const response = await register(testApp);

    expect(response.status).toBe(200);
    const text = await response.text();
    expect(JSON.parse(text)).toEqual({
      message: 'success',
      webhook_url: REDACTED_URL,
      webhook_mode: 1,
      finbox_status: 200,
      finbox_response: { message: 'success' },
    });
    expect(text).not.toContain(TOKEN);
    const registered = sandbox.registeredWebhook();
    expect(registered).toEqual({ webhook_url: PUBLIC_WEBHOOK_URL, webhook_mode: 1 });
    expect(typeof registered?.webhook_mode).toBe('number');
    expect(sandbox.stats().by_endpoint).toEqual({ update_webhook: 1 });
  });

  it('accepts the API key as a bearer token', async () => {
    const response = await register(testApp, { authorization: `Bearer ${API_KEY}` });
    expect(response.status).toBe(200);
  });

  it('answers 401 UNAUTHORIZED without an API key or with a wrong one, without calling FinBox', async () => {
    for (const headers of [{}, { 'x-api-key': 'not-the-key' }] as Record<string, string>[]) {
      const response = await register(testApp, headers);
      expect(response.status).toBe(401);
      await expect(response.json()).resolves.toMatchObject({ error: { code: 'UNAUTHORIZED', details: [] } });
    }
    expect(sandbox.stats().total_requests).toBe(0);
  });

  it('answers 502 UPSTREAM_UNAVAILABLE when FinBox keeps failing', async () => {
    sandbox.addFault({ type: 'status', status: 503, endpoint: 'update_webhook' });
    const response = await register(testApp);
    expect(response.status).toBe(502);
    const text = await response.text();
    expect(JSON.parse(text)).toEqual({
      error: { code: 'UPSTREAM_UNAVAILABLE', message: expect.stringContaining('503'), details: [] },
    });
    expect(text).not.toContain(TOKEN);
    expect(sandbox.stats().by_status).toEqual({ '503': 3 }); // retried like every transient failure
  });

  it('answers 502 UPSTREAM_UNAVAILABLE when FinBox refuses the credentials', async () => {
    sandbox.addFault({ type: 'status', status: 403, endpoint: 'update_webhook', times: 1 });
    const response = await register(testApp);
    expect(response.status).toBe(502);
    await expect(response.json()).resolves.toEqual({
      error: { code: 'UPSTREAM_UNAVAILABLE', message: expect.stringContaining('access denied'), details: [] },
    });
    expect(sandbox.stats().total_requests).toBe(1);
  });
});

describe('PUT /v1/finbox/webhook, other configurations', () => {
  let sandbox: Sandbox;
  const apps: TestApp[] = [];

  async function app(env: Record<string, string | undefined>): Promise<TestApp> {
    const testApp = await startApp(env);
    apps.push(testApp);
    return testApp;
  }

  beforeAll(async () => {
    sandbox = await startSandbox();
  });
  afterAll(async () => {
    for (const testApp of apps) await testApp.close();
    await sandbox?.close();
  });
  beforeEach(() => sandbox.reset());

  it('sends FINBOX_WEBHOOK_MODE as a number; answers with every secret of the URL redacted', async () => {
    const url = `https://hook:pass-${TOKEN}@reconciler.example.com/v1/webhooks/finbox?source=finbox&token=${TOKEN}`;
    const testApp = await app(finboxEnv(sandbox, { FINBOX_WEBHOOK_MODE: '3', PUBLIC_WEBHOOK_URL: url }));
    const response = await register(testApp);
    expect(response.status).toBe(200);
    await expect(response.json()).resolves.toMatchObject({
      webhook_url: 'https://REDACTED@reconciler.example.com/v1/webhooks/finbox?source=finbox&token=REDACTED',
      webhook_mode: 3,
    });
    expect(sandbox.registeredWebhook()).toEqual({ webhook_url: url, webhook_mode: 3 });
  });

  it('answers 503 NOT_CONFIGURED without PUBLIC_WEBHOOK_URL, without calling FinBox', async () => {
    const testApp = await app(finboxEnv(sandbox, { PUBLIC_WEBHOOK_URL: undefined }));
    const response = await register(testApp);
    expect(response.status).toBe(503);
    await expect(response.json()).resolves.toEqual({
      error: { code: 'NOT_CONFIGURED', message: expect.stringContaining('PUBLIC_WEBHOOK_URL'), details: [] },
    });
    expect(sandbox.stats().total_requests).toBe(0);
  });

  it('answers 503 NOT_CONFIGURED without FinBox credentials, without calling FinBox', async () => {
    const testApp = await app(finboxEnv(sandbox, { FINBOX_API_KEY: undefined, FINBOX_SERVER_HASH: undefined }));
    const response = await register(testApp);
    expect(response.status).toBe(503);
    await expect(response.json()).resolves.toEqual({
      error: { code: 'NOT_CONFIGURED', message: expect.stringContaining('FINBOX_API_KEY'), details: [] },
    });
    expect(sandbox.stats().total_requests).toBe(0);
  });
});

describe('npm run finbox:register-webhook (dist/src/finbox/register-webhook.js)', () => {
  const script = join(process.cwd(), 'dist', 'src', 'finbox', 'register-webhook.js');
  let sandbox: Sandbox;

  /** Runs the built script with exactly this environment, outside the checkout (so no .env is read). */
  function run(env: Record<string, string | undefined>): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [script], { cwd: tmpdir(), env: { PATH: process.env.PATH, ...env } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  }

  beforeAll(async () => {
    // What `npm run build` does; incremental, so usually quick.
    await promisify(execFile)(process.execPath, [join('node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json']);
    expect(existsSync(script)).toBe(true);
    sandbox = await startSandbox();
  }, 120_000);
  afterAll(async () => {
    await sandbox?.close();
  });
  beforeEach(() => sandbox.reset());

  it('registers the webhook, prints FinBox answer as JSON with the token redacted, exits 0', async () => {
    const { code, stdout, stderr } = await run(finboxEnv(sandbox, { FINBOX_WEBHOOK_MODE: '1' }));

    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(stdout)).toEqual({
      message: 'success',
      webhook_url: REDACTED_URL,
      webhook_mode: 1,
      finbox_status: 200,
      finbox_response: { message: 'success' },
    });
    expect(stdout).not.toContain(TOKEN);
    expect(sandbox.registeredWebhook()).toEqual({ webhook_url: PUBLIC_WEBHOOK_URL, webhook_mode: 1 });
  });

  it('exits 1 with NOT_CONFIGURED when PUBLIC_WEBHOOK_URL is unset', async () => {
    const { code, stdout, stderr } = await run(finboxEnv(sandbox, { PUBLIC_WEBHOOK_URL: undefined }));
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toContain('NOT_CONFIGURED: PUBLIC_WEBHOOK_URL is not set');
    expect(sandbox.stats().total_requests).toBe(0);
  });

  it('exits 1 with UPSTREAM_UNAVAILABLE when FinBox refuses', async () => {
    const { code, stdout, stderr } = await run(finboxEnv(sandbox, { FINBOX_API_KEY: 'a-wrong-key' }));
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toContain('UPSTREAM_UNAVAILABLE');
    expect(stderr).not.toContain('a-wrong-key');
    expect(stderr).not.toContain(TOKEN);
    expect(sandbox.stats()).toMatchObject({ total_requests: 1, by_status: { '403': 1 } });
  });

  it('exits 1 naming the variable when the configuration is invalid', async () => {
    const { code, stdout, stderr } = await run(finboxEnv(sandbox, { FINBOX_BASE_URL: 'not a url' }));
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toContain('FINBOX_BASE_URL');
    expect(sandbox.stats().total_requests).toBe(0);
  });
});
