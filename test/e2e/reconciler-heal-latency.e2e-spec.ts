/**
 * Heal latency (a measurement for the closing note, not a pass/fail
 * criterion beyond "every session healed"): sessions complete in FinBox at
 * staggered moments, their webhooks are dropped, and the cron reconciler
 * finds them. Latency = from FinBox's completion moment to the first
 * GET /v1/sessions/{id} that shows COMPLETED (the API is polled every 50 ms).
 */
import { session, sleep, startHarness, type Harness } from './reconciler-support.js';

const SESSIONS = 60;
const SETTINGS = {
  RECONCILE_ENABLED: 'true',
  RECONCILE_CRON: '*/1 * * * * *',
  RECONCILE_GRACE_SECONDS: '0',
  RECONCILE_MIN_INTERVAL_SECONDS: '1',
  RECONCILE_MAX_INTERVAL_SECONDS: '2',
  FINBOX_MAX_RPS: '200',
};

/** Nearest-rank percentile. */
function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

describe('reconciler heal latency', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness(SETTINGS);
  });
  afterAll(async () => {
    await h?.close();
  });

  it(`measures completion → COMPLETED in the API over ${SESSIONS} sessions whose webhooks were dropped`, async () => {
    // Completions spread over 1–7 s after registration, 100 ms apart.
    const ids = Array.from({ length: SESSIONS }, (_, i) => h.sandbox.createSession({ complete_after_ms: 1_000 + i * 100 }).session_id);
    await Promise.all(ids.map((id) => h.sut.api('/v1/sessions', { method: 'POST', body: JSON.stringify({ session_id: id }) })));
    const completesAt = new Map(ids.map((id) => [id, new Date(h.sandbox.describeSession(id).completes_at!).getTime()]));
    const seenAt = new Map<string, number>();

    const until = Math.max(...completesAt.values()) + 8_000;
    while (seenAt.size < SESSIONS && Date.now() < until) {
      const now = Date.now();
      const pending = ids.filter((id) => !seenAt.has(id) && completesAt.get(id)! <= now);
      await Promise.all(
        pending.map(async (id) => {
          if ((await session(h.sut, id)).status === 'COMPLETED') seenAt.set(id, Date.now());
        }),
      );
      await sleep(Math.max(0, now + 50 - Date.now()));
    }

    expect(seenAt.size).toBe(SESSIONS);
    for (const id of ids.slice(0, 3)) await expect(session(h.sut, id)).resolves.toMatchObject({ completed_via: 'poll' });
    const latencies = ids.map((id) => seenAt.get(id)! - completesAt.get(id)!).sort((a, b) => a - b);
    const polls = h.sandbox.stats().total_requests;
    console.log(
      `heal latency over ${SESSIONS} sessions: p50 ${percentile(latencies, 50)} ms, p99 ${percentile(latencies, 99)} ms, ` +
        `min ${latencies[0]} ms, max ${latencies.at(-1)} ms; ${polls} FinBox polls ` +
        `(${(polls / SESSIONS).toFixed(1)} per session); settings ${JSON.stringify(SETTINGS)}`,
    );
  }, 25_000);
});
