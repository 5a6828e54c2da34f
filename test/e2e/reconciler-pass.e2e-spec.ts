/**
 * Reconciler, one pass (CONTRACT §6): passes do not overlap in one process,
 * sessions are leased in batches of RECONCILE_BATCH_SIZE until none is due,
 * at most RECONCILE_CONCURRENCY polls are in flight, the time budget stops
 * leasing, a poll that cannot be applied does not stop the others, and the
 * metrics tell an operator what happened.
 */
import { ReconcilerService } from '../../src/reconciler/reconciler.service.js';
import { inParallel, metric, query, row, rows, session, sleep, startHarness, type Harness } from './reconciler-support.js';

describe('reconcile pass: batches, concurrency, failures', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({ RECONCILE_BATCH_SIZE: '5', RECONCILE_CONCURRENCY: '3' }, { latencyMs: 20 });
  });
  afterAll(async () => {
    await h?.close();
  });
  beforeEach(() => {
    h.sandbox.resetStats();
  });

  it('runs one pass at a time in a process: a call during a pass gets that pass', async () => {
    await h.track({ complete_after_ms: 0 });
    const service = h.sut.app.get(ReconcilerService);

    const first = service.runPass();
    const second = service.runPass();

    expect(second).toBe(first);
    const report = await first;
    expect(report.polled).toBe(1);
    const third = service.runPass();
    expect(third).not.toBe(first);
    await expect(third).resolves.toMatchObject({ result: 'completed', leased: 0, polled: 0 });
  });

  it('keeps leasing batches until nothing is due: 23 sessions, batches of 5, one pass, at most 3 polls in flight', async () => {
    const ids = await Promise.all(Array.from({ length: 23 }, () => h.track({ complete_after_ms: 0 })));
    let maxLeased = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const [{ leased }] = await query(h.sut.db, 'SELECT count(*)::int AS leased FROM sessions WHERE lease_token IS NOT NULL');
        maxLeased = Math.max(maxLeased, leased);
        await sleep(5);
      }
    })();

    const report = await h.pass();
    sampling = false;
    await sampler;

    expect(report).toMatchObject({ result: 'completed', leased: 23, polled: 23, healed: 23, failed: 0, handed_back: 0 });
    expect(report.outcomes).toEqual({ ok: 23 });
    for (const id of ids) await expect(session(h.sut, id)).resolves.toMatchObject({ status: 'COMPLETED', completed_via: 'poll' });
    const stats = h.sandbox.stats();
    expect(stats.total_requests).toBe(23);
    expect(stats.max_concurrent).toBeLessThanOrEqual(3);
    expect(stats.max_concurrent).toBeGreaterThanOrEqual(2); // it does poll concurrently
    expect(maxLeased).toBeGreaterThanOrEqual(1);
    // Leased 5 at a time, the next batch once fewer than 3 (the concurrency) are left to start: at most one batch,
    // the 2 still queued, the 3 FinBox calls in flight and the 3 answers being written.
    expect(maxLeased).toBeLessThanOrEqual(5 + 2 + 3 + 3);
  });

  it('goes on with the other sessions when one poll cannot be applied; that session keeps its lease', async () => {
    const ids = await Promise.all(Array.from({ length: 6 }, () => h.track({ complete_after_ms: 0 })));
    const poisoned = ids[2];
    // The database refuses to record this one session's poll (a real failure, not a mock).
    await query(
      h.sut.db,
      `CREATE FUNCTION refuse_poll() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'refused by test trigger'; END $$;
       CREATE TRIGGER refuse_poll BEFORE UPDATE ON sessions FOR EACH ROW
       WHEN (NEW.session_id = '${poisoned}' AND NEW.poll_attempts <> OLD.poll_attempts) EXECUTE FUNCTION refuse_poll();`,
    );
    try {
      const report = await h.pass();

      expect(report).toMatchObject({ result: 'completed', leased: 6, polled: 5, healed: 5, failed: 1 });
      for (const id of ids.filter((id) => id !== poisoned)) {
        await expect(session(h.sut, id)).resolves.toMatchObject({ status: 'COMPLETED' });
      }
      const stuck = await row(h.sut.db, poisoned);
      expect(stuck).toMatchObject({ status: 'NO_UPLOAD', poll_attempts: 0 });
      expect(stuck.lease_token).not.toBeNull(); // held until the lease runs out, then polled again
      expect(stuck.next_poll_at.getTime()).toBeGreaterThan(Date.now() + 60_000); // RECONCILE_LEASE_SECONDS (120)
    } finally {
      await query(h.sut.db, 'DROP TRIGGER refuse_poll ON sessions; DROP FUNCTION refuse_poll()');
    }
    // Once the lease has run out the session is polled like any other.
    await query(h.sut.db, 'UPDATE sessions SET next_poll_at = now() WHERE session_id = $1', [poisoned]);
    await expect(h.pass()).resolves.toMatchObject({ polled: 1, healed: 1 });
  });
});

describe('reconcile pass: RECONCILE_PASS_BUDGET_SECONDS', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness(
      { RECONCILE_PASS_BUDGET_SECONDS: '0.3', RECONCILE_BATCH_SIZE: '2', RECONCILE_CONCURRENCY: '1' },
      { latencyMs: 60 },
    );
  });
  afterAll(async () => {
    await h?.close();
  });

  it('stops leasing when the budget is spent; the rest stays due for the next pass', async () => {
    const ids = await Promise.all(Array.from({ length: 20 }, () => h.track({ complete_after_ms: 0 })));
    const before = await rows(h.sut.db, ids);

    const report = await h.pass();

    expect(report.result).toBe('budget_exhausted');
    expect(report.leased).toBeGreaterThanOrEqual(2);
    expect(report.leased).toBeLessThanOrEqual(10); // 0.3 s of 60 ms polls, in batches of 2 (plus the batch in hand)
    expect(report.polled).toBe(report.leased); // what was leased is polled, nothing is leased after the budget
    expect(report.duration_ms).toBeLessThan(1_500);
    const after = await rows(h.sut.db, ids);
    const untouched = ids.filter((id) => after.get(id)!.poll_attempts === 0);
    expect(untouched).toHaveLength(20 - report.polled);
    for (const id of untouched) {
      expect(after.get(id)).toMatchObject({ lease_token: null, next_poll_at: before.get(id)!.next_poll_at });
    }

    for (let pass = 0; pass < 10 && (await h.pass()).result === 'budget_exhausted'; pass++);
    for (const id of ids) await expect(session(h.sut, id)).resolves.toMatchObject({ status: 'COMPLETED' });
    expect(h.sandbox.stats().total_requests).toBe(20);
  });
});

describe('reconcile pass: metrics', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({ FINBOX_MAX_ATTEMPTS: '1', RECONCILE_MIN_INTERVAL_SECONDS: '60' });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('exports polls by outcome, sessions healed, sessions due and the oldest due session age', async () => {
    await expect(metric(h.sut, 'sessions_due')).resolves.toBe(0);
    await expect(metric(h.sut, 'oldest_due_session_age_seconds')).resolves.toBe(0);
    const completed = await h.track({ complete_after_ms: 0 });
    const open = await h.track({ complete_after_ms: null });
    const failing = await h.track({ complete_after_ms: 0 });
    const unknown = crypto.randomUUID();
    await h.sut.api('/v1/sessions', { method: 'POST', body: JSON.stringify({ session_id: unknown }) });
    h.sandbox.addFault({ type: 'status', status: 502, session_id: failing });
    await sleep(400);

    await expect(metric(h.sut, 'sessions_due')).resolves.toBe(4);
    await expect(metric(h.sut, 'sessions_awaiting_completion')).resolves.toBe(4);
    const oldest = (await metric(h.sut, 'oldest_due_session_age_seconds'))!;
    expect(oldest).toBeGreaterThanOrEqual(0.35);
    expect(oldest).toBeLessThan(5);

    await expect(h.pass()).resolves.toMatchObject({ polled: 4, healed: 1 });

    await expect(metric(h.sut, 'polls_total', { outcome: 'ok' })).resolves.toBe(2);
    await expect(metric(h.sut, 'polls_total', { outcome: 'not_found' })).resolves.toBe(1);
    await expect(metric(h.sut, 'polls_total', { outcome: 'unavailable' })).resolves.toBe(1);
    await expect(metric(h.sut, 'sessions_healed_total')).resolves.toBe(1);
    await expect(metric(h.sut, 'reconcile_passes_total', { result: 'completed' })).resolves.toBe(1);
    // Still awaiting: the IN_PROGRESS one and the one that met a 502, both backing off (not due).
    await expect(metric(h.sut, 'sessions_awaiting_completion')).resolves.toBe(2);
    await expect(metric(h.sut, 'sessions_due')).resolves.toBe(0);
    await expect(metric(h.sut, 'oldest_due_session_age_seconds')).resolves.toBe(0);
    await expect(session(h.sut, completed)).resolves.toMatchObject({ status: 'COMPLETED' });
    await expect(session(h.sut, open)).resolves.toMatchObject({ status: 'IN_PROGRESS' });
  });
});

describe('reconcile pass: many sessions', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({ RECONCILE_BATCH_SIZE: '50', RECONCILE_CONCURRENCY: '16' });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('heals a backlog of 300 sessions in one pass, polling each once', async () => {
    const ids = Array.from({ length: 300 }, () => h.sandbox.createSession({ complete_after_ms: 0 }).session_id);
    await inParallel(ids, 20, (id) => h.sut.api('/v1/sessions', { method: 'POST', body: JSON.stringify({ session_id: id }) }));

    const report = await h.pass();

    expect(report).toMatchObject({ result: 'completed', leased: 300, polled: 300, healed: 300 });
    const counts = Object.values(h.sandbox.stats().polls_by_session);
    expect(counts).toHaveLength(300);
    expect(new Set(counts)).toEqual(new Set([1]));
    expect(h.sandbox.stats().max_concurrent).toBeLessThanOrEqual(16);
  });
});
