import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../../src/bootstrap.js';
import { loadConfig, type AppConfig } from '../../src/config/configuration.js';
import { createTestDatabase, type TestDatabase } from './database.js';

export const API_KEY = 'test-api-key';
export const WEBHOOK_TOKEN = 'test-webhook-token';

export interface TestApp {
  app: NestFastifyApplication;
  config: AppConfig;
  /** e.g. http://127.0.0.1:PORT */
  url: string;
  db: TestDatabase;
  /** fetch against the app with the API key set. */
  api(path: string, init?: RequestInit): Promise<Response>;
  /** POST a webhook body (object or raw string) with the token. */
  webhook(body: unknown, init?: { token?: string | null; contentType?: string }): Promise<Response>;
  close(): Promise<void>;
}

/**
 * Boots the real application (createApp, as main.ts does) on a free port, on a
 * fresh database, configured by environment variables as in production.
 * The reconciler's cron is off unless `env.RECONCILE_ENABLED` says otherwise.
 */
export async function startApp(env: Record<string, string | undefined> = {}, db?: TestDatabase): Promise<TestApp> {
  const database = db ?? (await createTestDatabase());
  const config = loadConfig({
    API_KEYS: API_KEY,
    WEBHOOK_TOKENS: WEBHOOK_TOKEN,
    RECONCILE_ENABLED: 'false',
    LOG_LEVEL: 'silent',
    DATABASE_POOL_SIZE: '5',
    ...env,
    DATABASE_URL: database.url,
  });
  const app = await createApp(config);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.getHttpServer().address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return {
    app,
    config,
    url,
    db: database,
    api: (path, init = {}) =>
      fetch(url + path, {
        ...init,
        headers: { 'x-api-key': API_KEY, ...(init.body ? { 'content-type': 'application/json' } : {}), ...init.headers },
      }),
    webhook: (body, init = {}) =>
      fetch(url + '/v1/webhooks/finbox', {
        method: 'POST',
        headers: {
          'content-type': init.contentType ?? 'application/json',
          ...(init.token === null ? {} : { 'x-webhook-token': init.token ?? WEBHOOK_TOKEN }),
        },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      }),
    close: async () => {
      await app.close();
      if (!db) await database.drop();
    },
  };
}
