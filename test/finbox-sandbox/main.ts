/**
 * `npm run sandbox -- [flags]`: the FinBox sandbox as a standalone server.
 * See README.md in this folder for the flags and the control API.
 */
import { parseArgs } from 'node:util';
import { startSandbox, type SandboxOptions } from './sandbox.js';

const USAGE = `Usage: npm run sandbox -- [flags]
  --port N                 default 4010 (0: any free port)
  --host H                 default 127.0.0.1
  --api-key K              expected x-api-key (default sandbox-api-key)
  --server-hash H          expected server-hash (default sandbox-server-hash)
  --latency-ms N           added to every FinBox API response
  --webhook-url URL        where webhooks go (update_webhook calls replace it)
  --auth-error-style S     error (403 ACCESS_DENIED, default) or detail (401 {"detail": ...})
  --drop-webhooks          record webhooks as dropped instead of sending them
  --duplicate-webhooks     send every webhook twice
  --webhook-delay-ms N     send webhooks N ms after the event
  --demo                   create two demo sessions at start-up
  --help`;

function fail(message: string): never {
  console.error(`${message}\n\n${USAGE}`);
  process.exit(2);
}

function toNumber(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed) || parsed < 0) fail(`${flag} must be a number >= 0`);
  return parsed;
}

const FLAGS = {
  port: { type: 'string', default: '4010' },
  host: { type: 'string', default: '127.0.0.1' },
  'api-key': { type: 'string' },
  'server-hash': { type: 'string' },
  'latency-ms': { type: 'string' },
  'webhook-url': { type: 'string' },
  'auth-error-style': { type: 'string', default: 'error' },
  'drop-webhooks': { type: 'boolean', default: false },
  'duplicate-webhooks': { type: 'boolean', default: false },
  'webhook-delay-ms': { type: 'string' },
  demo: { type: 'boolean', default: false },
  help: { type: 'boolean', default: false },
} as const;

function readFlags() {
  try {
    return parseArgs({ options: FLAGS }).values;
  } catch (error) {
    return fail((error as Error).message);
  }
}

function parseFlags(): { options: SandboxOptions; demo: boolean } {
  const values = readFlags();
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const authErrorStyle = values['auth-error-style'];
  if (authErrorStyle !== 'error' && authErrorStyle !== 'detail') fail('--auth-error-style must be error or detail');

  return {
    demo: values.demo,
    options: {
      port: toNumber(values.port, '--port'),
      host: values.host,
      apiKey: values['api-key'],
      serverHash: values['server-hash'],
      latencyMs: toNumber(values['latency-ms'], '--latency-ms'),
      webhookUrl: values['webhook-url'],
      authErrorStyle,
      webhookFaults: {
        drop: values['drop-webhooks'],
        duplicate: values['duplicate-webhooks'],
        delayMs: toNumber(values['webhook-delay-ms'], '--webhook-delay-ms'),
      },
      // Request lines carry method, path and status only: never the credentials or the webhook token.
      log: (line) => console.log(`${new Date().toISOString()} ${line}`),
    },
  };
}

async function main(): Promise<void> {
  const { options, demo } = parseFlags();
  const sandbox = await startSandbox(options);
  console.log(`FinBox sandbox listening`);
  console.log(`  base URL (FINBOX_BASE_URL): ${sandbox.baseUrl}`);
  console.log(`  control URL:                ${sandbox.controlUrl}`);
  const customCredentials = options.apiKey !== undefined || options.serverHash !== undefined;
  const credentials = customCredentials ? 'as given by the flags' : 'the defaults (see README.md)';
  console.log(`  credentials:                ${credentials}`);

  if (demo) {
    // One completes and its webhook arrives; the other completes with its webhook lost, so only polling finds it.
    const delivered = sandbox.createSession({ complete_after_ms: 3000, webhooks: { drop: false } });
    const dropped = sandbox.createSession({ complete_after_ms: 4000, webhooks: { drop: true } });
    console.log(`  demo session, webhook delivered: ${delivered.session_id}`);
    console.log(`  demo session, webhook dropped:   ${dropped.session_id}`);
    if (options.webhookUrl === undefined) {
      console.log('  (no --webhook-url yet: webhooks go wherever update_webhook registers)');
    }
  }

  const stop = () => {
    console.log('stopping');
    void sandbox.close().then(() => console.log('stopped'));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

await main();
