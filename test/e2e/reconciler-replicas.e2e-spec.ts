/**
 * Reconciler across replicas (CONTRACT §6): any number of instances on one
 * database poll each session once and never one session twice at once; a
 * crashed replica's leases come back when they expire (not before); a replica
 * shutting down hands its unpolled leases back at once.
 */
import { randomUUID } from 'node:crypto';
import type { TestApp } from '../helpers/app.js';
import {
  inParallel,
  register,
  repositoryOf,
  row,
  rows,
  session,
  sleep,
  startHarness,
  type Harness,
} from './reconciler-support.js';
import type { PassReport } from '../../src/reconciler/reconciler.service.js';

describe('reconciler replicas: two instances on one database', () => {
  let h: Harness;
  let other: TestApp;

  beforeAll(async () => {
    const env = { RECONCILE_BATCH_SIZE: '20', RECONCILE_CONCURRENCY: '8', FINBOX_MAX_RPS: '1000' };
    h = await startHarness(env, { latencyMs: 20 });
    other = await h.replica(env);
  });
  afterAll(async () => {
    await h?.close();
  });

  it('heals 200 sessions whose webhooks were dropped, each polled once, never two polls of one session at once', async () => {
    const ids = Array.from({ length: 200 }, () => h.sandbox.createSession({ complete_after_ms: 0 }).session_id);
    await inParallel(ids, 20, (id) => register(h.sut, id));
    const reports: PassReport[][] = [[], []];

    // Both instances run passes at the same time until neither finds work.
    await Promise.all(
      [h.sut, other].map(async (app, index) => {
        for (let round = 0; round < 20; round++) {
          const report = await h.pass(app);
          reports[index].push(report);
          if (report.leased === 0) break;
        }
      }),
    );

    const healed = await rows(h.sut.db, ids);
    expect([...healed.values()].filter((r) => r.status === 'COMPLETED')).toHaveLength(200);
    const stats = h.sandbox.stats();
    expect(stats.max_concurrent_per_session).toBe(1);
    expect(Object.keys(stats.polls_by_session)).toHaveLength(200);
    expect(stats.total_requests).toBeLessThanOrEqual(210); // ≤ 1.05 × sessions
    const polledBy = reports.map((passes) => passes.reduce((sum, report) => sum + report.polled, 0));
    expect(polledBy[0] + polledBy[1]).toBe(stats.total_requests);
    expect(polledBy[0]).toBeGreaterThan(0); // both took part
    expect(polledBy[1]).toBeGreaterThan(0);
    for (const id of ids.slice(0, 5)) {
      await expect(session(other, id)).resolves.toMatchObject({ status: 'COMPLETED', completed_via: 'poll', poll_attempts: 1 });
    }
  });
});

describe('reconciler replicas: leases', () => {
  let h: Harness;
  let other: TestApp;

  beforeAll(async () => {
    // FinBox's own timeout is longer than the 5 s lease: only the lease can cut a slow call off.
    const env = {
      RECONCILE_LEASE_SECONDS: '5',
      RECONCILE_CONCURRENCY: '1',
      FINBOX_TIMEOUT_MS: '10000',
      FINBOX_MAX_ATTEMPTS: '1',
    };
    h = await startHarness(env);
    other = await h.replica(env);
  });
  afterAll(async () => {
    await h?.close();
  });
  beforeEach(() => {
    h.sandbox.reset();
  });

  it("takes over a crashed replica's leases once they expire, and not before", async () => {
    const ids = await Promise.all(Array.from({ length: 8 }, () => h.track({ complete_after_ms: 0 })));
    // A replica leases them (as its pass does) and dies without polling or handing them back.
    const leased = await repositoryOf(h.sut).leaseDueSessions(randomUUID(), 100, 1.5);
    expect(leased.map((s) => s.session_id).sort()).toEqual([...ids].sort());
    const leaseEnds = Math.max(...leased.map((s) => new Date(s.lease_expires_at).getTime()));

    await expect(h.pass(other)).resolves.toMatchObject({ leased: 0, polled: 0 });
    await sleep(leaseEnds - 500 - Date.now());
    await expect(h.pass(other)).resolves.toMatchObject({ leased: 0, polled: 0 });
    expect(h.sandbox.stats().total_requests).toBe(0);

    await sleep(leaseEnds + 50 - Date.now());
    const report = await h.pass(other);

    expect(report).toMatchObject({ leased: 8, polled: 8, healed: 8 });
    for (const id of ids) await expect(session(h.sut, id)).resolves.toMatchObject({ status: 'COMPLETED', poll_attempts: 1 });
    expect(h.sandbox.stats().total_requests).toBe(8);
  });

  it('never lets a poll outlive its lease: a FinBox call slower than the lease is cut off, never doubled', async () => {
    // FinBox takes 8 s for this session; the lease is 5 s. The call is cut off a second before the lease ends and
    // recorded as a timeout, so the other replica, passing all the while, never polls the session at the same time.
    const slow = await h.track({ complete_after_ms: 0 });
    h.sandbox.addFault({ type: 'latency', latency_ms: 8_000, session_id: slow });

    const pass = h.pass();
    let otherPasses = 0;
    while (!(await Promise.race([pass.then(() => true), sleep(100).then(() => false)]))) {
      await h.pass(other);
      otherPasses += 1;
    }
    const report = await pass;
    await sleep(1_500); // past the end of the first lease
    await expect(h.pass(other)).resolves.toMatchObject({ leased: 0 });

    const stats = h.sandbox.stats();
    expect(otherPasses).toBeGreaterThan(20);
    expect(stats.max_concurrent_per_session).toBe(1);
    expect(stats.polls_by_session).toEqual({ [slow]: 1 });
    expect(report).toMatchObject({ leased: 1, polled: 1, outcomes: { timeout: 1 } });
    expect(report.duration_ms).toBeLessThan(5_000);
    const state = await session(h.sut, slow);
    expect(state).toMatchObject({ status: 'NO_UPLOAD', poll_attempts: 1 });
    expect(state.last_poll_error).toMatch(/lease ran out/);
    expect(new Date(state.next_poll_at).getTime()).toBeGreaterThan(Date.now() + 30_000); // its own backoff
  }, 20_000);
});

describe('reconciler replicas: shutting down in the middle of a pass', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({ RECONCILE_CONCURRENCY: '1' }, { latencyMs: 300 });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('lets the poll in flight finish and hands the other leases back at once, at their old place', async () => {
    const leaving = await h.replica();
    const ids = await Promise.all(Array.from({ length: 5 }, () => h.track({ complete_after_ms: 0 })));
    const before = await rows(h.sut.db, ids);

    const pass = h.pass(leaving);
    await sleep(100); // the first poll is in flight
    await leaving.close();
    const report = await pass;

    expect(report).toMatchObject({ result: 'stopped', leased: 5, polled: 1, healed: 1, handed_back: 4 });
    const after = await rows(h.sut.db, ids);
    const polled = ids.filter((id) => after.get(id)!.status === 'COMPLETED');
    expect(polled).toHaveLength(1);
    for (const id of ids.filter((id) => !polled.includes(id))) {
      expect(after.get(id)).toMatchObject({ lease_token: null, poll_attempts: 0, next_poll_at: before.get(id)!.next_poll_at });
    }

    // The remaining instance takes them at once, without waiting for any lease to expire.
    await expect(h.pass()).resolves.toMatchObject({ leased: 4, polled: 4, healed: 4 });
    expect(new Set(Object.values(h.sandbox.stats().polls_by_session))).toEqual(new Set([1]));
    await expect(row(h.sut.db, polled[0])).resolves.toMatchObject({ poll_attempts: 1 });
  });
});
