/**
 * Reconciler cron (CONTRACT §2 RECONCILE_ENABLED / RECONCILE_CRON, §6): with
 * RECONCILE_ENABLED=true passes run by themselves on RECONCILE_CRON and never
 * overlap within a process; with RECONCILE_ENABLED=false none runs.
 */
import { startApp } from '../helpers/app.js';
import { eventually, finboxEnv, metric, session, sleep, startHarness, type Harness } from './reconciler-support.js';

/** reconcile_passes_total summed over its results. */
async function passesRun(h: Harness): Promise<number> {
  const text = await (await fetch(`${h.sut.url}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith('reconcile_passes_total{'))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

describe('reconciler cron: RECONCILE_ENABLED=true', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness(
      {
        RECONCILE_ENABLED: 'true',
        RECONCILE_CRON: '*/1 * * * * *',
        RECONCILE_CONCURRENCY: '1',
        RECONCILE_BATCH_SIZE: '1',
        // Always due again: every pass would go on until its budget, longer than the 1 s between ticks.
        RECONCILE_MIN_INTERVAL_SECONDS: '0.05',
        RECONCILE_MAX_INTERVAL_SECONDS: '0.05',
        RECONCILE_PASS_BUDGET_SECONDS: '1.3',
      },
      { latencyMs: 250 },
    );
  });
  afterAll(async () => {
    await h?.close();
  });

  it('heals sessions by itself, with nobody calling runPass', async () => {
    const ids = await Promise.all([0, 1, 2].map(() => h.track({ complete_after_ms: 0 })));

    await eventually(async () => (await Promise.all(ids.map((id) => session(h.sut, id)))).every((s) => s.status === 'COMPLETED'), 5_000);

    for (const id of ids) await expect(session(h.sut, id)).resolves.toMatchObject({ completed_via: 'poll', poll_attempts: 1 });
    await expect(passesRun(h)).resolves.toBeGreaterThanOrEqual(1);
  });

  it('never runs two passes at once, though each lasts longer than the time between ticks', async () => {
    await Promise.all([0, 1, 2, 3].map(() => h.track({ complete_after_ms: null })));
    const passesBefore = await passesRun(h);
    h.sandbox.resetStats();

    await sleep(5_000);

    const stats = h.sandbox.stats();
    expect(stats.total_requests).toBeGreaterThanOrEqual(8);
    // RECONCILE_CONCURRENCY=1: a second pass running alongside would put a second request in flight.
    expect(stats.max_concurrent).toBe(1);
    const passes = (await passesRun(h)) - passesBefore;
    expect(passes).toBeGreaterThanOrEqual(2);
    expect(passes).toBeLessThanOrEqual(4); // 5 ticks, but a pass lasts ~1.5 s and a tick during it starts none
    await expect(metric(h.sut, 'reconcile_passes_total', { result: 'budget_exhausted' })).resolves.toBeGreaterThanOrEqual(2);
  });
});

describe('reconciler cron: RECONCILE_ENABLED=false', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({ RECONCILE_ENABLED: 'false', RECONCILE_CRON: '*/1 * * * * *' });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('runs no pass at all', async () => {
    const ids = await Promise.all([0, 1].map(() => h.track({ complete_after_ms: 0 })));

    await sleep(2_200);

    expect(h.sandbox.stats().total_requests).toBe(0);
    await expect(passesRun(h)).resolves.toBe(0);
    for (const id of ids) await expect(session(h.sut, id)).resolves.toMatchObject({ status: 'NO_UPLOAD', poll_attempts: 0 });
    // The pass itself still works when asked (what the e2e tests use).
    await expect(h.pass()).resolves.toMatchObject({ polled: 2, healed: 2 });
  });

  it('refuses to start with a lease too short to poll in', async () => {
    const env = { ...finboxEnv(h.sandbox), RECONCILE_ENABLED: 'true', RECONCILE_LEASE_SECONDS: '2' };
    await expect(startApp(env, h.sut.db)).rejects.toThrow(/RECONCILE_LEASE_SECONDS must not be less than 5/);
  });
});
