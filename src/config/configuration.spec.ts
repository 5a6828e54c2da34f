import { ConfigurationError, loadConfig } from './configuration.js';

describe('loadConfig', () => {
  const sut = loadConfig;

  it('gives every default of CONTRACT §2 with an empty environment', () => {
    const config = sut({});
    expect(config).toMatchObject({
      production: false,
      http: { port: 3000, host: '0.0.0.0', bodyLimitBytes: 1_048_576 },
      database: { url: undefined },
      finbox: {
        baseUrl: 'https://apis.bankconnect.finbox.in/bank-connect',
        apiVersion: 'v1',
        credentials: undefined,
        timeoutMs: 10_000,
        maxRps: 10,
        webhookMode: 1,
      },
      auth: { webhookTokens: undefined, apiKeys: undefined },
      reconcile: {
        enabled: true,
        cron: '*/30 * * * * *',
        graceSeconds: 900,
        minIntervalSeconds: 60,
        maxIntervalSeconds: 3600,
        maxAgeHours: 72,
        batchSize: 200,
        concurrency: 16,
      },
      logLevel: 'info',
    });
  });

  it('reads lists, booleans, fractions and strips a trailing slash', () => {
    const config = sut({
      WEBHOOK_TOKENS: ' a, b ,,c',
      API_KEYS: 'k1',
      RECONCILE_ENABLED: 'false',
      FINBOX_MAX_RPS: '0.5',
      RECONCILE_MAX_AGE_HOURS: '0.001',
      FINBOX_BASE_URL: 'http://127.0.0.1:4010/bank-connect/',
      FINBOX_API_KEY: 'key',
      FINBOX_SERVER_HASH: 'hash',
    });
    expect(config.auth).toEqual({ webhookTokens: ['a', 'b', 'c'], apiKeys: ['k1'] });
    expect(config.reconcile).toMatchObject({ enabled: false, maxAgeHours: 0.001 });
    expect(config.finbox).toMatchObject({ maxRps: 0.5, baseUrl: 'http://127.0.0.1:4010/bank-connect' });
    expect(config.finbox.credentials).toEqual({ apiKey: 'key', serverHash: 'hash' });
  });

  it.each([
    [{ PORT: 'abc' }, /^Invalid configuration: PORT must be an integer number \(got "abc"\)$/],
    [{ FINBOX_TIMEOUT_MS: '0' }, /FINBOX_TIMEOUT_MS must not be less than 1/],
    [{ FINBOX_BASE_URL: 'ftp://x' }, /FINBOX_BASE_URL must be an http\(s\) URL/],
    [{ RECONCILE_CRON: 'every minute' }, /RECONCILE_CRON is not a valid cron expression/],
    [{ RECONCILE_ENABLED: 'maybe' }, /RECONCILE_ENABLED must be a boolean/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL must be one of/],
    [{ RECONCILE_MIN_INTERVAL_SECONDS: '100', RECONCILE_MAX_INTERVAL_SECONDS: '10' }, /RECONCILE_MAX_INTERVAL_SECONDS must not be below/],
    [{ FINBOX_API_KEY: 'only-one' }, /FINBOX_API_KEY and FINBOX_SERVER_HASH must be set together/],
  ])('stops on %j with one message naming the variable', (env, message) => {
    expect(() => sut(env)).toThrow(ConfigurationError);
    expect(() => sut(env)).toThrow(message);
  });

  it('refuses production without DATABASE_URL, WEBHOOK_TOKENS and API_KEYS', () => {
    expect(() => sut({ NODE_ENV: 'production' })).toThrow(
      'Invalid configuration: DATABASE_URL must be set when NODE_ENV=production; WEBHOOK_TOKENS must be set when NODE_ENV=production; API_KEYS must be set when NODE_ENV=production',
    );
    const config = sut({ NODE_ENV: 'production', DATABASE_URL: 'postgres://db/x', WEBHOOK_TOKENS: 't', API_KEYS: 'k' });
    expect(config.production).toBe(true);
  });

  it('never echoes a secret in its message', () => {
    expect(() => sut({ DATABASE_URL: 'mysql://user:s3cret@db/x' })).toThrow(/^Invalid configuration: DATABASE_URL must be a postgres:\/\/ URL$/);
  });
});
