/**
 * Reconciler, when sessions are polled (CONTRACT §2, §5, §6): the grace period,
 * backoff between the min and max interval, the last poll after FinBox's
 * expiry, giving up after RECONCILE_MAX_AGE_HOURS, and webhooks that make a
 * session due at once. Intervals are fractions of a second, not minutes.
 */
import { events, query, row, rows, session, sleep, startHarness, type Harness } from './reconciler-support.js';

/** Runs a pass whenever one of `ids` is due, until `until` (ms since epoch). */
async function reconcileUntil(h: Harness, until: number, everyMs = 50): Promise<void> {
  while (Date.now() < until) {
    await h.pass();
    await sleep(everyMs);
  }
}

/** Poll events of a session, oldest first. */
async function polls(h: Harness, id: string) {
  return (await events(h.sut, id)).filter((e) => e.channel === 'poll').reverse();
}

describe('reconciler schedule: grace, and webhooks that make a session due at once', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({ RECONCILE_GRACE_SECONDS: '1.5' });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('does not poll a new session before RECONCILE_GRACE_SECONDS, then does', async () => {
    const id = await h.track({ complete_after_ms: 0 });
    const tracked = await row(h.sut.db, id);
    expect(tracked.next_poll_at.getTime() - tracked.tracked_since.getTime()).toBeCloseTo(1500, -2);

    await h.pass();
    await sleep(1000);
    await h.pass();
    expect(h.sandbox.stats().polls_by_session[id]).toBeUndefined();

    await sleep(tracked.next_poll_at.getTime() - Date.now() + 20);
    await h.pass();

    expect(h.sandbox.stats().polls_by_session[id]).toBe(1);
    await expect(session(h.sut, id)).resolves.toMatchObject({ status: 'COMPLETED', completed_via: 'poll' });
  });

  it('polls at once a session named by a webhook with an unknown event', async () => {
    const id = await h.track({ complete_after_ms: 0 });
    const response = await h.sut.webhook({ session_id: id, event_name: 'SOME_FUTURE_NOTIFICATION', detail: 'x' });
    expect(response.status).toBe(200);

    await h.pass();

    expect(h.sandbox.stats().polls_by_session[id]).toBe(1);
    await expect(session(h.sut, id)).resolves.toMatchObject({ status: 'COMPLETED', completed_via: 'poll' });
    const history = await events(h.sut, id);
    expect(history.map((e) => `${e.channel}:${e.outcome}`)).toEqual(['poll:ok', 'webhook:ignored']);
  });

  it('polls at once a session named by a webhook that failed validation', async () => {
    const id = await h.track({ complete_after_ms: 0 });
    const response = await h.sut.webhook({
      session_id: id,
      event_name: 'SESSION_REQUIREMENT_COMPLETION_NOTIFICATION',
      accounts: 'not a list',
    });
    expect(response.status).toBe(400);

    await h.pass();

    expect(h.sandbox.stats().polls_by_session[id]).toBe(1);
    await expect(session(h.sut, id)).resolves.toMatchObject({ status: 'COMPLETED', completed_via: 'poll' });
    const history = await events(h.sut, id);
    expect(history.map((e) => `${e.channel}:${e.outcome}`)).toEqual(['poll:ok', 'webhook:rejected']);
  });
});

describe('reconciler schedule: backoff', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({ RECONCILE_MIN_INTERVAL_SECONDS: '0.15', RECONCILE_MAX_INTERVAL_SECONDS: '0.6' });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('spaces the polls of a session exponentially, with jitter, between the min and max interval', async () => {
    const ids = await Promise.all(Array.from({ length: 4 }, () => h.track({ complete_after_ms: null })));
    const gaps: number[][] = ids.map(() => []);
    for (let attempt = 1; attempt <= 5; attempt++) {
      const due = Math.max(...[...(await Promise.all(ids.map((id) => row(h.sut.db, id))))].map((r) => r.next_poll_at.getTime()));
      await sleep(Math.max(0, due - Date.now() + 20));
      await h.pass();
      for (const [index, id] of ids.entries()) {
        const polled = await row(h.sut.db, id);
        expect(polled.poll_attempts).toBe(attempt);
        gaps[index].push(polled.next_poll_at.getTime() - polled.last_polled_at!.getTime());
      }
    }

    for (const sessionGaps of gaps) {
      sessionGaps.forEach((gap, index) => {
        const base = Math.min(600, 150 * 2 ** index);
        // last_polled_at is the database's clock at the write, next_poll_at the app's just before: allow 40 ms.
        expect(gap).toBeGreaterThanOrEqual(Math.max(150, Math.min(600, base * 0.8)) - 40);
        expect(gap).toBeLessThanOrEqual(Math.min(600, base * 1.2) + 40);
      });
      expect(sessionGaps.at(-1)).toBeGreaterThan(sessionGaps[0] * 2); // it did back off
    }
    // Jitter: four sessions polled together do not all keep the same rhythm.
    expect(new Set(gaps.map((sessionGaps) => Math.round(sessionGaps[1] / 5))).size).toBeGreaterThan(1);
    for (const id of ids) await expect(session(h.sut, id)).resolves.toMatchObject({ status: 'IN_PROGRESS', gave_up_at: null });
  });
});

describe("reconciler schedule: FinBox's expiry", () => {
  let h: Harness;

  beforeAll(async () => {
    // A long interval, so that after the first poll the only poll left is the one just after the expiry.
    h = await startHarness({ RECONCILE_MIN_INTERVAL_SECONDS: '30', RECONCILE_MAX_INTERVAL_SECONDS: '60' });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('polls a session once more just after expires_at, then it has left the queue (gave_up_at unless FinBox ended it)', async () => {
    const expiring = await h.track({ complete_after_ms: null, expire_after_ms: 600 });
    const forgotten = await h.track({ complete_after_ms: null, expire_after_ms: 600 });
    await h.pass();
    const first = await rows(h.sut.db, [expiring, forgotten]);
    for (const polled of first.values()) {
      expect(polled.status).toBe('IN_PROGRESS');
      // The next poll is moved from 30 s away to just after the expiry.
      expect(polled.next_poll_at.getTime()).toBe(polled.expires_at!.getTime() + 5_000);
    }
    // After its expiry FinBox no longer knows one of them: a 404 for a confirmed session changes nothing.
    h.sandbox.addFault({ type: 'status', status: 404, session_id: forgotten });

    await reconcileUntil(h, Math.max(...[...first.values()].map((r) => r.next_poll_at.getTime())) + 500);

    for (const id of [expiring, forgotten]) {
      const made = await polls(h, id);
      expect(made).toHaveLength(2);
      expect(new Date(made[1].received_at).getTime()).toBeGreaterThanOrEqual(first.get(id)!.expires_at!.getTime() + 5_000);
    }
    await expect(session(h.sut, expiring)).resolves.toMatchObject({ status: 'EXPIRED', gave_up_at: null });
    expect((await polls(h, expiring))[1].payload).toMatchObject({ upload_status: 'EXPIRED' });
    const given = await session(h.sut, forgotten);
    expect(given).toMatchObject({ status: 'IN_PROGRESS', poll_attempts: 2 });
    expect(given.gave_up_at).not.toBeNull();
    expect((await polls(h, forgotten))[1]).toMatchObject({ outcome: 'not_found', http_status: 404 });

    // Both have left the queue: even when their next_poll_at comes, nothing polls them.
    await query(h.sut.db, 'UPDATE sessions SET next_poll_at = now() WHERE session_id = ANY($1::uuid[])', [[expiring, forgotten]]);
    await h.pass();
    expect(h.sandbox.stats().polls_by_session).toMatchObject({ [expiring]: 2, [forgotten]: 2 });
  }, 15_000);
});

describe('reconciler schedule: RECONCILE_MAX_AGE_HOURS', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({
      RECONCILE_MAX_AGE_HOURS: '0.0005', // 1.8 s
      RECONCILE_MIN_INTERVAL_SECONDS: '0.2',
      RECONCILE_MAX_INTERVAL_SECONDS: '0.5',
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('gives up on a session that stays open past the max age (also one FinBox has started answering 404 for)', async () => {
    const open = await h.track({ complete_after_ms: null });
    const forgotten = await h.track({ complete_after_ms: null });
    await h.pass(); // both confirmed: IN_PROGRESS
    h.sandbox.addFault({ type: 'status', status: 404, session_id: forgotten });
    const tracked = (await row(h.sut.db, open)).tracked_since.getTime();

    await reconcileUntil(h, tracked + 1_800 + 700);

    for (const id of [open, forgotten]) {
      const after = await session(h.sut, id);
      expect(after).toMatchObject({ status: 'IN_PROGRESS' });
      expect(after.gave_up_at).not.toBeNull();
      const givenUp = new Date(after.gave_up_at).getTime();
      expect(givenUp).toBeGreaterThanOrEqual(tracked + 1_800 - 50);
      const made = await polls(h, id);
      expect(new Date(made.at(-1)!.received_at).getTime()).toBeGreaterThanOrEqual(tracked + 1_800 - 50);
      // Backoff from 0.2 s to 0.5 s over 1.8 s, the last poll at the deadline: no more than a handful.
      expect(made.length).toBeGreaterThanOrEqual(4);
      expect(made.length).toBeLessThanOrEqual(8);
    }
    expect((await polls(h, forgotten)).at(-1)).toMatchObject({ outcome: 'not_found' });
    const counted = h.sandbox.stats().polls_by_session;
    await reconcileUntil(h, Date.now() + 600);
    expect(h.sandbox.stats().polls_by_session).toEqual(counted);
  });
});
