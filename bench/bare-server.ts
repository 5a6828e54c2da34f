/**
 * The floor the service is compared with: bare Fastify + `pg`, no framework,
 * no validation, no logging. Started by bench/run.ts as a child process of its
 * own (like the service), on the same database.
 *
 *   POST /webhook        token check, JSON well-formedness check, ONE
 *                        `INSERT INTO bench_bare_events (body)` of the raw body
 *   GET  /sessions/:id   API-key check, ONE `SELECT * FROM sessions WHERE
 *                        session_id = $1` (the service's own table and rows)
 *   GET  /health         200
 *
 * Environment: BARE_DATABASE_URL, PORT, BARE_POOL_SIZE (the service's
 * DATABASE_POOL_SIZE default, 20), BARE_WEBHOOK_TOKEN, BARE_API_KEY.
 */
import Fastify from 'fastify';
import pg from 'pg';

const env = (name: string, fallback?: string): string => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`${name} is required`);
  return value;
};

const pool = new pg.Pool({
  connectionString: env('BARE_DATABASE_URL'),
  max: Number(env('BARE_POOL_SIZE', '20')),
  idleTimeoutMillis: 30_000, // as the service's pool (src/database/data-source-options.ts)
  application_name: 'finbox-bench-bare',
});
const webhookToken = env('BARE_WEBHOOK_TOKEN');
const apiKey = env('BARE_API_KEY');

const app = Fastify({ logger: false, bodyLimit: 1_048_576 });
// Keep the raw body (it is what gets stored), but refuse what is not JSON, as any receiver must.
app.removeContentTypeParser('application/json');
app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
  try {
    JSON.parse(body as string);
    done(null, body);
  } catch (error) {
    (error as Error & { statusCode?: number }).statusCode = 400;
    done(error as Error, undefined);
  }
});

app.post('/webhook', async (request, reply) => {
  if (request.headers['x-webhook-token'] !== webhookToken) return reply.code(401).send({ error: { code: 'UNAUTHORIZED' } });
  await pool.query('INSERT INTO bench_bare_events (body) VALUES ($1::jsonb)', [request.body]);
  return { message: 'success' };
});

app.get<{ Params: { id: string } }>('/sessions/:id', async (request, reply) => {
  if (request.headers['x-api-key'] !== apiKey) return reply.code(401).send({ error: { code: 'UNAUTHORIZED' } });
  const { rows } = await pool.query('SELECT * FROM sessions WHERE session_id = $1', [request.params.id]);
  if (rows.length === 0) return reply.code(404).send({ error: { code: 'SESSION_NOT_FOUND' } });
  return rows[0];
});

app.get('/health', async () => {
  await pool.query('SELECT 1');
  return { status: 'ok' };
});

const shutdown = async () => {
  await app.close();
  await pool.end();
  process.exit(0);
};
process.once('SIGTERM', () => void shutdown());
process.once('SIGINT', () => void shutdown());

await app.listen({ port: Number(env('PORT')), host: '127.0.0.1' });
console.log(`bare server listening on 127.0.0.1:${env('PORT')}`);
