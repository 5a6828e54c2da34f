/**
 * Reconciler, what FinBox answers (CONTRACT §3 status rules, §5, §6): every
 * outcome of a poll, turned into the session's status, its history and its
 * place in the queue. The real app on real Postgres; FinBox is the sandbox.
 */
import {
  eventually,
  events,
  metric,
  readiness,
  row,
  rows,
  session,
  sleep,
  startHarness,
  type Harness,
} from './reconciler-support.js';

/** Waits until the session's own next poll time has come. */
async function untilDue(h: Harness, id: string): Promise<void> {
  const { next_poll_at } = await row(h.sut.db, id);
  const wait = next_poll_at.getTime() - Date.now();
  if (wait > 0) await sleep(wait + 20);
}

describe('reconcile pass: what FinBox answers', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({
      FINBOX_MAX_ATTEMPTS: '1',
      RECONCILE_MIN_INTERVAL_SECONDS: '0.3',
      RECONCILE_MAX_INTERVAL_SECONDS: '1',
    });
  });
  afterAll(async () => {
    await h?.close();
  });
  afterEach(() => {
    h.sandbox.clearFaults();
  });

  it('heals a completed session whose webhook was dropped', async () => {
    const id = await h.track({ complete_after_ms: 0 });
    await eventually(async () => h.sandbox.deliveries().some((d) => d.session_id === id && d.status === -1));
    const healedBefore = (await metric(h.sut, 'sessions_healed_total')) ?? 0;

    const report = await h.pass();

    expect(report).toMatchObject({ result: 'completed' });
    expect(report.healed).toBeGreaterThanOrEqual(1);
    await expect(session(h.sut, id)).resolves.toMatchObject({
      status: 'COMPLETED',
      completed_via: 'poll',
      poll_attempts: 1,
      last_poll_error: null,
      gave_up_at: null,
      accounts: [expect.objectContaining({ account_status: 'COMPLETED' })],
    });
    await expect(metric(h.sut, 'sessions_healed_total')).resolves.toBe(healedBefore + 1);
    const history = await events(h.sut, id);
    expect(history[0]).toMatchObject({ channel: 'poll', outcome: 'ok', http_status: 200, error: null });
    expect(history[0].payload).toMatchObject({ session_id: id, upload_status: 'COMPLETED' });

    // Healed once: a completed session has left the queue.
    await h.pass();
    expect(h.sandbox.stats().polls_by_session[id]).toBe(1);
  });

  it('marks NOT_FOUND a session FinBox never confirmed and answers 404 for', async () => {
    const id = crypto.randomUUID(); // never created in the sandbox
    await h.sut.api('/v1/sessions', { method: 'POST', body: JSON.stringify({ session_id: id }) });

    await h.pass();

    await expect(session(h.sut, id)).resolves.toMatchObject({ status: 'NOT_FOUND', completed_via: null, poll_attempts: 1 });
    await expect(events(h.sut, id)).resolves.toEqual([
      expect.objectContaining({ channel: 'poll', outcome: 'not_found', http_status: 404 }),
    ]);
    await h.pass();
    expect(h.sandbox.stats().polls_by_session[id]).toBe(1); // terminal: no retry
  });

  it('records but does not apply a 404 for a session an earlier IN_PROGRESS poll confirmed', async () => {
    const id = await h.track({ complete_after_ms: null });
    await h.pass();
    await expect(session(h.sut, id)).resolves.toMatchObject({ status: 'IN_PROGRESS' });
    h.sandbox.addFault({ type: 'status', status: 404, session_id: id });
    await untilDue(h, id);

    await h.pass();

    const after = await session(h.sut, id);
    expect(after).toMatchObject({ status: 'IN_PROGRESS', poll_attempts: 2, gave_up_at: null });
    expect(after.accounts).toHaveLength(1);
    expect(new Date(after.next_poll_at).getTime()).toBeGreaterThan(Date.now()); // still in the queue, backing off
    const history = await events(h.sut, id);
    expect(history.map((e) => e.outcome)).toEqual(['not_found', 'ok']);
    expect(history[0]).toMatchObject({ channel: 'poll', http_status: 404 });
  });

  it('records but does not apply a 404 for a session a completion webhook confirmed (on-demand reconcile)', async () => {
    const id = await h.track({ complete_after_ms: 0, webhooks: { drop: false } });
    await eventually(async () => (await session(h.sut, id)).status === 'COMPLETED');
    h.sandbox.addFault({ type: 'status', status: 404, session_id: id });

    const response = await h.sut.api(`/v1/sessions/${id}/reconcile`, { method: 'POST' });

    expect(response.status).toBe(200);
    await expect(response.json()).resolves.toMatchObject({ status: 'COMPLETED', completed_via: 'webhook' });
    const history = await events(h.sut, id);
    expect(history[0]).toMatchObject({ channel: 'poll', outcome: 'not_found', http_status: 404 });
    expect(history[1]).toMatchObject({ channel: 'webhook', event_name: 'SESSION_REQUIREMENT_COMPLETION_NOTIFICATION' });
  });

  it('marks DELETED a session FinBox answers 410 for, even after it was IN_PROGRESS', async () => {
    const id = await h.track({ complete_after_ms: null });
    await h.pass();
    h.sandbox.deleteSession(id);
    await untilDue(h, id);

    await h.pass();

    const after = await session(h.sut, id);
    expect(after).toMatchObject({ status: 'DELETED', poll_attempts: 2 });
    expect(after.deleted_at).not.toBeNull();
    expect(after.accounts).toHaveLength(1); // what was known before is kept
    await expect(events(h.sut, id)).resolves.toContainEqual(expect.objectContaining({ outcome: 'deleted', http_status: 410 }));
    await h.pass();
    expect(h.sandbox.stats().polls_by_session[id]).toBe(2);
  });

  it('marks EXPIRED a session FinBox reports expired', async () => {
    const id = await h.track({ complete_after_ms: null, expire_after_ms: 200 });
    await sleep(250);

    await h.pass();

    const after = await session(h.sut, id);
    expect(after).toMatchObject({ status: 'EXPIRED', completed_via: null, gave_up_at: null });
    expect(after.expired_at).not.toBeNull();
    expect(after.expires_at).not.toBeNull();
    await h.pass();
    expect(h.sandbox.stats().polls_by_session[id]).toBe(1);
  });

  it('follows a session from IN_PROGRESS to COMPLETED over two passes', async () => {
    const id = await h.track({ complete_after_ms: 700 });

    await h.pass();
    await expect(session(h.sut, id)).resolves.toMatchObject({ status: 'IN_PROGRESS', completed_via: null });
    await sleep(700);
    await untilDue(h, id);
    await h.pass();

    await expect(session(h.sut, id)).resolves.toMatchObject({ status: 'COMPLETED', completed_via: 'poll', poll_attempts: 2 });
  });

  it('keeps a session that met a 5xx in its place with its own backoff, and heals it on a later pass', async () => {
    const failing = await h.track({ complete_after_ms: 0 });
    const healthy = await h.track({ complete_after_ms: 0 });
    h.sandbox.addFault({ type: 'status', status: 503, session_id: failing, times: 1 });

    const report = await h.pass();

    expect(report.outcomes).toMatchObject({ unavailable: 1 });
    await expect(session(h.sut, healthy)).resolves.toMatchObject({ status: 'COMPLETED' });
    const failed = await row(h.sut.db, failing);
    expect(failed).toMatchObject({ status: 'NO_UPLOAD', poll_attempts: 1, lease_token: null, gave_up_at: null });
    expect(failed.last_poll_error).toMatch(/503/);
    const gap = failed.next_poll_at.getTime() - failed.last_polled_at!.getTime();
    expect(gap).toBeGreaterThanOrEqual(300 - 50); // RECONCILE_MIN_INTERVAL_SECONDS, less clock rounding
    expect(gap).toBeLessThanOrEqual(1000 + 50);
    await expect(events(h.sut, failing)).resolves.toEqual([
      expect.objectContaining({ channel: 'poll', outcome: 'unavailable', http_status: 503 }),
    ]);

    await h.pass(); // not due yet: not polled again
    expect(h.sandbox.stats().polls_by_session[failing]).toBe(1);
    await untilDue(h, failing);
    await h.pass();

    await expect(session(h.sut, failing)).resolves.toMatchObject({
      status: 'COMPLETED',
      completed_via: 'poll',
      poll_attempts: 2,
      last_poll_error: null,
    });
  });

  it("waits for a 429's Retry-After before polling the session again, then heals it", async () => {
    const id = await h.track({ complete_after_ms: 0 });
    h.sandbox.addFault({ type: 'status', status: 429, retry_after: '1', session_id: id, times: 1 });

    await h.pass();

    const limited = await row(h.sut.db, id);
    expect(limited).toMatchObject({ status: 'NO_UPLOAD', poll_attempts: 1 });
    expect(limited.last_poll_error).toMatch(/429/);
    // Retry-After (1 s) beats RECONCILE_MIN_INTERVAL_SECONDS (0.3 s).
    expect(limited.next_poll_at.getTime() - limited.last_polled_at!.getTime()).toBeGreaterThanOrEqual(1000 - 50);
    await sleep(500);
    await h.pass();
    expect(h.sandbox.stats().polls_by_session[id]).toBe(1);

    await untilDue(h, id);
    await h.pass();

    await expect(session(h.sut, id)).resolves.toMatchObject({ status: 'COMPLETED', completed_via: 'poll', last_poll_error: null });
    await expect(events(h.sut, id)).resolves.toEqual([
      expect.objectContaining({ outcome: 'ok' }),
      expect.objectContaining({ outcome: 'rate_limited', http_status: 429 }),
    ]);
  });
});

describe.each([
  { status: 403, style: 'error' as const },
  { status: 401, style: 'detail' as const },
])('reconcile pass: FinBox refuses the credentials ($status)', ({ status }) => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({
      RECONCILE_CONCURRENCY: '2',
      RECONCILE_BATCH_SIZE: '4',
      FINBOX_BREAKER_COOLDOWN_SECONDS: '0.5',
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('stops the pass at the first refusal, leaves every session as it was, and heals them after the cool-down', async () => {
    const ids = await Promise.all(Array.from({ length: 10 }, () => h.track({ complete_after_ms: 0 })));
    const before = await rows(h.sut.db, ids);
    h.sandbox.addFault({ type: 'status', status });

    const report = await h.pass();

    expect(report.result).toBe('access_denied');
    const requests = h.sandbox.stats().total_requests;
    expect(requests).toBeGreaterThanOrEqual(1);
    expect(requests).toBeLessThanOrEqual(2); // only what was already in flight (RECONCILE_CONCURRENCY)
    expect(report).toMatchObject({ polled: 0, healed: 0, outcomes: { access_denied: requests } });
    expect(report.handed_back).toBe(report.leased);
    const after = await rows(h.sut.db, ids);
    for (const id of ids) {
      const was = before.get(id)!;
      expect(after.get(id)).toMatchObject({
        status: 'NO_UPLOAD',
        poll_attempts: 0,
        last_polled_at: null,
        lease_token: null,
        next_poll_at: was.next_poll_at,
      });
    }
    // The refusal is in the history of the session(s) it happened to.
    const refused = await Promise.all(ids.map((id) => events(h.sut, id)));
    expect(refused.flat().filter((e) => e.outcome === 'access_denied' && e.http_status === status)).toHaveLength(requests);

    const ready = await readiness(h.sut);
    expect(ready.details.finbox).toMatchObject({ credentials: 'rejected', circuit: 'open' });

    // While the circuit cools down a pass does not even call FinBox.
    await expect(h.pass()).resolves.toMatchObject({ result: 'circuit_open', leased: 0 });
    expect(h.sandbox.stats().total_requests).toBe(requests);

    h.sandbox.clearFaults();
    await sleep(600); // FINBOX_BREAKER_COOLDOWN_SECONDS
    const healed = await h.pass();

    expect(healed).toMatchObject({ result: 'completed', polled: 10, healed: 10 });
    for (const id of ids) await expect(session(h.sut, id)).resolves.toMatchObject({ status: 'COMPLETED', completed_via: 'poll' });
    const readyAgain = await readiness(h.sut);
    expect(readyAgain.details.finbox).toMatchObject({ credentials: 'accepted', circuit: 'closed' });
  });
});
