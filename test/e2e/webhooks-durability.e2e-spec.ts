import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { startApp, type TestApp } from '../helpers/app.js';
import { fixture, withSession } from '../helpers/fixtures.js';

/** Never a 2xx for anything not stored; a failure part-way leaves nothing half-written. */
describe('webhook durability when the database fails', () => {
  let sut: TestApp;
  let db: pg.Client;
  let admin: pg.Client;

  beforeAll(async () => {
    sut = await startApp();
    db = await sut.db.client();
    const url = new URL(sut.db.url);
    url.pathname = '/postgres';
    admin = new pg.Client({ connectionString: url.toString() });
    await admin.connect();
  });
  afterAll(async () => {
    await admin.query(`ALTER DATABASE ${sut.db.name} WITH ALLOW_CONNECTIONS true`);
    await admin.end();
    await sut.close();
  });

  const appBackends = async (where = '') =>
    (
      await admin.query(
        `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'finbox-session-reconciler' ${where}`,
        [sut.db.name],
      )
    ).rows.map((row) => row.pid as number);

  it('a connection lost in the middle of applying a webhook: 503, and none of it is written', async () => {
    const id = randomUUID();
    expect((await sut.webhook(withSession(fixture('expiry'), id))).status).toBe(200);

    // Hold the account row: the webhook's statement writes its event and session, then waits here.
    const blocker = await sut.db.client();
    await blocker.query('BEGIN');
    await blocker.query('SELECT 1 FROM accounts WHERE session_id = $1 FOR UPDATE', [id]);
    const pending = sut.webhook(withSession(fixture('completion-masked'), id));

    let waiting: number[] = [];
    for (let attempt = 0; attempt < 100 && waiting.length === 0; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      waiting = await appBackends(`AND wait_event_type = 'Lock'`);
    }
    expect(waiting).toHaveLength(1);
    await admin.query('SELECT pg_terminate_backend($1)', [waiting[0]]);

    const response = await pending;
    expect(response.status).toBe(503);
    await expect(response.json()).resolves.toMatchObject({ error: { code: 'SERVICE_UNAVAILABLE' } });
    await blocker.query('ROLLBACK');

    const { rows: sessions } = await db.query('SELECT status, completed_at FROM sessions WHERE session_id = $1', [id]);
    expect(sessions).toEqual([{ status: 'EXPIRED', completed_at: null }]);
    const { rows: events } = await db.query('SELECT event_name FROM session_events WHERE session_id = $1', [id]);
    expect(events).toEqual([{ event_name: 'SESSION_EXPIRY_NOTIFICATION' }]);

    // FinBox's redelivery (or the reconciler) then lands it: it was never recorded as seen.
    expect((await sut.webhook(withSession(fixture('completion-masked'), id))).status).toBe(200);
    const { rows: after } = await db.query('SELECT status FROM sessions WHERE session_id = $1', [id]);
    expect(after).toEqual([{ status: 'COMPLETED' }]);
  });

  it('the database unreachable: 503 SERVICE_UNAVAILABLE, never a 200; back to 200 when it returns', async () => {
    const id = randomUUID();
    await admin.query(`ALTER DATABASE ${sut.db.name} WITH ALLOW_CONNECTIONS false`);
    for (const pid of await appBackends()) await admin.query('SELECT pg_terminate_backend($1)', [pid]);

    for (let attempt = 0; attempt < 3; attempt++) {
      const response = await sut.webhook(withSession(fixture('completion-masked'), id));
      expect(response.status).toBe(503);
      await expect(response.json()).resolves.toMatchObject({ error: { code: 'SERVICE_UNAVAILABLE', details: [] } });
    }
    expect((await fetch(`${sut.url}/health/ready`)).status).toBe(503);

    await admin.query(`ALTER DATABASE ${sut.db.name} WITH ALLOW_CONNECTIONS true`);
    expect((await sut.webhook(withSession(fixture('completion-masked'), id))).status).toBe(200);
    const check = await sut.db.client();
    const { rows } = await check.query('SELECT status FROM sessions WHERE session_id = $1', [id]);
    expect(rows).toEqual([{ status: 'COMPLETED' }]);
  });
});
