/**
 * Benchmark 3: the reconciler's poll rate against the FinBox sandbox.
 *
 * The service runs as in production (child process, its own cron, here every
 * second: RECONCILE_CRON='* * * * * *'); due sessions are inserted straight
 * into its tables and exist, COMPLETED, in the sandbox, so every poll heals
 * one. The rate is what the sandbox saw arrive: polls / (last − first
 * arrival), plus its busiest calendar second and sliding 1 s window.
 */
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { cpus } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { startSandbox, type Sandbox, type SandboxStats } from '../../test/finbox-sandbox/sandbox.js';
import { type Context, describeServiceEnvironment, startService } from '../lib/context.js';
import { createMigratedDatabase, databaseName, withClient } from '../lib/databases.js';
import { between, scrape } from '../lib/metrics.js';
import { median } from '../lib/load.js';
import { cpuMs, machineBusyMs, PostgresCpu, waitForQuiet } from '../lib/processes.js';
import { otherShare } from '../lib/load.js';

export interface ReconcileRound {
  round: number | 'warm-up';
  sessions: number;
  polls: number;
  spanS: number;
  rate: number;
  maxPerSecond: number;
  maxInAny1sWindow: number;
  /** Median arrivals per calendar second, first and last (partial) seconds left out: the plateau. */
  medianPerSecond: number;
  maxConcurrent: number;
  byStatus: Record<string, number>;
  /** Sessions polled more than once. */
  repolled: number;
  /** Sessions the database shows COMPLETED via poll. */
  healed: number;
  /** From inserting the due sessions to the last one healed (includes waiting for the next cron tick). */
  wallS: number;
  /** healed / (last completed_at − first completed_at), from the database. */
  dbRate: number;
  /** CPU ms per poll: the service process, the local Postgres, the bench process (which hosts the sandbox). */
  serviceCpuMsPerPoll: number | null;
  postgresCpuMsPerPoll: number | null;
  sandboxCpuMsPerPoll: number;
  /** Polls/s the machine's cores could do at that CPU cost per poll (all three together). */
  cpuCeiling: number | null;
  /** Event-loop delay of the bench process, where the sandbox (the instrument) runs: p99 / max ms. */
  sandboxLoopDelayP99Ms: number;
  sandboxLoopDelayMaxMs: number;
  /** The service's own event-loop delay during the round (its /metrics), ms. */
  serviceLoopLagP99Ms: number | null;
  serviceLoopLagMaxMs: number | null;
  /** Mean FinBox call latency as the service measured it (sandbox latency: BENCH_FINBOX_LATENCY_MS). */
  serviceFinboxMeanMs: number | null;
  /** Share of the machine's CPU used by anything else during the round. */
  otherCpuShare: number;
  /** Waited this long for a quiet machine before the round. */
  waitedForQuietS: number;
}

export interface ReconcileCase {
  label: string;
  maxRps: number;
  concurrency: number;
  ideal: number;
  idealExplained: string;
  serviceEnv: string;
  rounds: ReconcileRound[];
  rate: number;
  worstSecond: number;
  worstWindow: number;
  error?: string;
}

export interface ReconcileResults {
  latencyMs: number;
  sessions: number;
  cases: ReconcileCase[];
}

export async function runReconcileSuite(context: Context): Promise<ReconcileResults> {
  const { settings, log } = context;
  const databaseUrl = await createMigratedDatabase('reconcile');
  // The sandbox waits for its latency on one AbortSignal per request: more than 10 at once is expected here.
  setMaxListeners(1000);
  const sandbox = await startSandbox({ latencyMs: settings.finboxLatencyMs });
  const latency = settings.finboxLatencyMs;
  const results: ReconcileResults = { latencyMs: latency, sessions: settings.reconcileSessions, cases: [] };
  try {
    const cases = [
      { label: 'capped', maxRps: 100, concurrency: 16, ideal: 100, idealExplained: 'FINBOX_MAX_RPS = 100/s' },
      {
        label: 'uncapped',
        maxRps: 100_000,
        concurrency: 32,
        ideal: latency > 0 ? 32 / (latency / 1000) : Infinity,
        idealExplained: `RECONCILE_CONCURRENCY / FinBox latency = 32 / ${latency / 1000} s`,
      },
    ];
    for (const spec of cases) {
      const { child, env } = await startService(context, databaseUrl, {
        RECONCILE_ENABLED: 'true',
        RECONCILE_CRON: '* * * * * *',
        FINBOX_BASE_URL: sandbox.baseUrl,
        FINBOX_API_KEY: sandbox.apiKey,
        FINBOX_SERVER_HASH: sandbox.serverHash,
        FINBOX_MAX_RPS: String(spec.maxRps),
        RECONCILE_CONCURRENCY: String(spec.concurrency),
      });
      const result: ReconcileCase = {
        ...spec,
        serviceEnv: describeServiceEnvironment(env).replace(sandbox.baseUrl, '<sandbox>'),
        rounds: [],
        rate: NaN,
        worstSecond: 0,
        worstWindow: 0,
      };
      results.cases.push(result);
      try {
        const warmup = Math.min(200, Math.max(50, Math.round(settings.reconcileSessions / 10)));
        log(`reconcile ${spec.label}: FINBOX_MAX_RPS=${spec.maxRps} RECONCILE_CONCURRENCY=${spec.concurrency}, warm-up of ${warmup} sessions`);
        await round(sandbox, databaseUrl, warmup, spec.ideal, 'warm-up', child, context.server.local, settings.quietWaitSeconds);
        for (let n = 1; n <= settings.reconcileRounds; n++) {
          const measured = await round(sandbox, databaseUrl, settings.reconcileSessions, spec.ideal, n, child, context.server.local, settings.quietWaitSeconds);
          result.rounds.push(measured);
          log(
            `  round ${n}: ${measured.polls} polls in ${measured.spanS.toFixed(2)} s = ${measured.rate.toFixed(1)}/s ` +
              `(ideal ${spec.ideal.toFixed(0)}), busiest second ${measured.maxPerSecond}, sliding 1 s ${measured.maxInAny1sWindow}, ` +
              `healed ${measured.healed}, statuses ${JSON.stringify(measured.byStatus)}, CPU ms/poll service ${measured.serviceCpuMsPerPoll?.toFixed(2)} ` +
              `postgres ${measured.postgresCpuMsPerPoll?.toFixed(2)} sandbox ${measured.sandboxCpuMsPerPoll.toFixed(2)}, ` +
              `service loop lag p99/max ${measured.serviceLoopLagP99Ms?.toFixed(0)}/${measured.serviceLoopLagMaxMs?.toFixed(0)} ms, ` +
              `FinBox call as the service saw it ${measured.serviceFinboxMeanMs?.toFixed(0)} ms, other CPU ${(measured.otherCpuShare * 100).toFixed(0)} %`,
          );
        }
        result.rate = median(result.rounds.map((r) => r.rate));
        result.worstSecond = Math.max(...result.rounds.map((r) => r.maxPerSecond));
        result.worstWindow = Math.max(...result.rounds.map((r) => r.maxInAny1sWindow));
      } catch (error) {
        result.error = String(error);
        log(`  failed: ${String(error)}`);
      } finally {
        await child.stop();
      }
    }
  } finally {
    await sandbox.close();
  }
  return results;
}

async function round(
  sandbox: Sandbox,
  databaseUrl: string,
  count: number,
  ideal: number,
  label: number | 'warm-up',
  service: { pid: number; url: string },
  measurePostgres: boolean,
  quietWaitSeconds: number,
): Promise<ReconcileRound> {
  const servicePid = service.pid;
  const match = databaseName('reconcile');
  const ids = Array.from({ length: count }, () => randomUUID());
  for (const id of ids) sandbox.createSession({ session_id: id, in_progress_after_ms: 0, complete_after_ms: 0, webhooks: { drop: true } });
  await sleep(100); // the sandbox's completion timers (0 ms) have fired
  sandbox.resetStats();
  const quiet = label === 'warm-up' ? { waitedS: 0 } : await waitForQuiet(quietWaitSeconds);

  return withClient(databaseUrl, async (client) => {
    const loop = monitorEventLoopDelay({ resolution: 5 });
    const serviceBefore = cpuMs(servicePid);
    const pgCpu = measurePostgres ? new PostgresCpu(match).start() : undefined;
    const benchBefore = process.cpuUsage();
    const machineBefore = machineBusyMs();
    const metricsBefore = await scrape(service.url);
    const started = Date.now();
    loop.enable();
    const inserted = Date.now();
    await client.query(
      `INSERT INTO sessions (session_id, next_poll_at, change_xid)
       SELECT id, now() - interval '1 minute', pg_current_xact_id()::text::bigint FROM unnest($1::uuid[]) AS id`,
      [ids],
    );
    // Generous: five times the ideal duration, plus start-up slack.
    const deadline = Date.now() + 30_000 + (5 * 1000 * count) / Math.min(ideal, 1e6);
    let healed = 0;
    for (;;) {
      // Cheap check first (the sandbox's own count), then the database: every session terminal.
      if ((sandbox.stats().by_endpoint.upload_status ?? 0) >= count) {
        const { rows } = await client.query<{ done: number }>(
          `SELECT count(*)::int AS done FROM sessions WHERE session_id = ANY($1::uuid[]) AND status <> 'NO_UPLOAD' AND status <> 'IN_PROGRESS'`,
          [ids],
        );
        healed = rows[0].done;
        if (healed >= count) break;
      }
      if (Date.now() > deadline) throw new Error(`only ${healed} of ${count} sessions were reconciled in time (${sandbox.stats().total_requests} polls)`);
      await sleep(500); // stats() copies the sandbox's counters on the sandbox's own event loop: not too often
    }
    const wallS = (Date.now() - inserted) / 1000;
    await sleep(300); // answers in flight reach the stats
    loop.disable();
    const serviceAfter = cpuMs(servicePid);
    const pg = pgCpu?.stop();
    const bench = process.cpuUsage(benchBefore);
    const machine = machineBusyMs() - machineBefore;
    const seconds = (Date.now() - started) / 1000;
    const view = between(metricsBefore, await scrape(service.url));
    const stats: SandboxStats = sandbox.stats();
    const { rows } = await client.query<{ healed: number; span: number | null }>(
      `SELECT count(*) FILTER (WHERE completed_via = 'poll')::int AS healed,
              EXTRACT(EPOCH FROM max(completed_at) - min(completed_at))::float8 AS span
       FROM sessions WHERE session_id = ANY($1::uuid[])`,
      [ids],
    );
    const polls = stats.by_endpoint.upload_status ?? 0;
    const first = stats.first_request_at ? Date.parse(stats.first_request_at) : NaN;
    const last = stats.last_request_at ? Date.parse(stats.last_request_at) : NaN;
    const spanS = (last - first) / 1000;
    const perPoll = (before: number | undefined, after: number | undefined) =>
      before !== undefined && after !== undefined && polls > 0 ? (after - before) / polls : null;
    const serviceCpu = perPoll(serviceBefore, serviceAfter);
    const postgresCpu = pg !== undefined && polls > 0 ? pg / polls : null;
    const sandboxCpu = (bench.user + bench.system) / 1000 / Math.max(1, polls);
    const totalCpu = (serviceCpu ?? 0) + (postgresCpu ?? 0) + sandboxCpu;
    return {
      round: label,
      sessions: count,
      polls,
      spanS,
      rate: polls / spanS,
      maxPerSecond: stats.max_per_second,
      maxInAny1sWindow: stats.max_in_any_1s_window,
      medianPerSecond: median(
        Object.entries(stats.per_second)
          .sort(([a], [b]) => Number(a) - Number(b))
          .slice(1, -1)
          .map(([, n]) => n),
      ),
      maxConcurrent: stats.max_concurrent,
      byStatus: stats.by_status,
      repolled: Object.values(stats.polls_by_session).filter((n) => n > 1).length,
      healed: rows[0].healed,
      wallS,
      dbRate: rows[0].span ? rows[0].healed / rows[0].span : NaN,
      serviceCpuMsPerPoll: serviceCpu,
      postgresCpuMsPerPoll: postgresCpu,
      sandboxCpuMsPerPoll: sandboxCpu,
      cpuCeiling: serviceCpu !== null && postgresCpu !== null ? (cpus().length * 1000) / totalCpu : null,
      sandboxLoopDelayP99Ms: loop.percentile(99) / 1e6,
      sandboxLoopDelayMaxMs: loop.max / 1e6,
      serviceLoopLagP99Ms: view.loopLagP99Ms,
      serviceLoopLagMaxMs: view.loopLagMaxMs,
      serviceFinboxMeanMs: view.finboxMeanMs,
      otherCpuShare: otherShare(
        machine,
        [(serviceAfter ?? 0) - (serviceBefore ?? 0), pg ?? 0, (bench.user + bench.system) / 1000],
        seconds,
      ),
      waitedForQuietS: quiet.waitedS,
    };
  });
}
