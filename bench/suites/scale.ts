/**
 * Benchmark 4: SessionsRepository.leaseDueSessions (the service's own code and
 * SQL, run from here on a plain client) for N due sessions, in a database whose
 * sessions table also holds 1,000,000 terminal sessions, against one holding
 * only the due ones. Two databases of their own, measured alternately
 * (A B A B…) after one warm-up lease each; every lease is undone (and the
 * table vacuumed) before the next.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import type { Context } from '../lib/context.js';
import { createMigratedDatabase } from '../lib/databases.js';
import { median } from '../lib/load.js';
import { explainAnalyze, repositoryOn } from '../lib/statements.js';

export interface ScaleSide {
  label: string;
  terminalRows: number;
  dueRows: number;
  timesMs: number[];
  medianMs: number;
  plan: string;
  planExecutionMs: number | null;
  tableSize: string;
  dueIndexSize: string;
}

export interface ScaleResults {
  buildSeconds: number;
  buildSql: string;
  empty: ScaleSide;
  large: ScaleSide;
  ratio: number;
  leaseSql: string;
  /** Second series: plain VACUUM between leases, so dead index entries accumulate. */
  churned: Array<{ label: string; timesMs: number[]; medianMs: number; dueIndexSize: string }>;
  churnedRatio: number;
  churnedPlan: string;
  error?: string;
}

const TERMINAL_SQL = (rows: number) => `INSERT INTO sessions (session_id, confirmed_at, completed_at, completed_via, expired_at, gave_up_at,
  last_webhook_at, tracked_since, updated_at, next_poll_at, change_xid)
SELECT gen_random_uuid(),
  t,
  CASE WHEN g % 20 > 1 THEN t END,                      -- 90 % COMPLETED
  CASE WHEN g % 20 > 1 THEN 'webhook' END,
  CASE WHEN g % 20 = 0 THEN t END,                      --  5 % EXPIRED
  CASE WHEN g % 20 = 1 THEN t END,                      --  5 % gave up (still NO_UPLOAD, out of the queue)
  t, t - interval '1 hour', t,
  t,                                                    -- next_poll_at long past, as on real terminal rows
  pg_current_xact_id()::text::bigint
FROM generate_series(1, ${rows}) AS g, LATERAL (SELECT now() - make_interval(secs => g) AS t) AS x`;

const DUE_SQL = (rows: number) => `INSERT INTO sessions (session_id, next_poll_at, change_xid)
SELECT gen_random_uuid(), now() - interval '1 minute', pg_current_xact_id()::text::bigint FROM generate_series(1, ${rows})`;

export async function runScaleSuite(context: Context): Promise<ScaleResults> {
  const { settings, log } = context;
  const emptyUrl = await createMigratedDatabase('scale_empty');
  const largeUrl = await createMigratedDatabase('scale_large');
  const clients = [new pg.Client({ connectionString: emptyUrl }), new pg.Client({ connectionString: largeUrl })];
  await Promise.all(clients.map((client) => client.connect()));
  try {
    const [empty, large] = clients;
    log(`scale: inserting ${settings.scaleTerminalRows.toLocaleString('en')} terminal sessions (one INSERT … SELECT generate_series)`);
    const started = performance.now();
    if (settings.scaleTerminalRows > 0) await large.query(TERMINAL_SQL(settings.scaleTerminalRows));
    const buildSeconds = (performance.now() - started) / 1000;
    log(`  built in ${buildSeconds.toFixed(1)} s; adding ${settings.scaleDue} due sessions to both databases, VACUUM ANALYZE`);
    for (const client of clients) {
      await client.query(DUE_SQL(settings.scaleDue));
      await client.query('VACUUM ANALYZE sessions');
    }

    const sides = [
      { label: 'only the due sessions', client: empty, terminalRows: 0, times: [] as number[], ...repositoryOn(empty) },
      { label: `+ ${settings.scaleTerminalRows.toLocaleString('en')} terminal sessions`, client: large, terminalRows: settings.scaleTerminalRows, times: [] as number[], ...repositoryOn(large) },
    ];
    /** Leases `reps` times per side (plus one warm-up), alternately; each lease is undone (not timed), then `vacuum` runs. */
    const measure = async (vacuum: string) => {
      const times = sides.map(() => [] as number[]);
      for (let rep = 0; rep <= settings.scaleReps; rep++) {
        for (const [i, side] of sides.entries()) {
          const t0 = performance.now();
          const leased = await side.repository.leaseDueSessions(randomUUID(), settings.scaleDue, 120);
          const ms = performance.now() - t0;
          if (leased.length !== settings.scaleDue) throw new Error(`leased ${leased.length} sessions, expected ${settings.scaleDue}`);
          if (rep > 0) times[i].push(ms); // rep 0 is the warm-up
          await side.client.query(`UPDATE sessions SET next_poll_at = now() - interval '1 minute', lease_token = NULL WHERE session_id = ANY($1::uuid[])`, [
            leased.map((session) => session.session_id),
          ]);
          await side.client.query(vacuum);
        }
      }
      return times;
    };
    const sizes = async (client: pg.Client) =>
      (
        await client.query<{ table: string; index: string }>(
          `SELECT pg_size_pretty(pg_total_relation_size('sessions')) AS table, pg_size_pretty(pg_relation_size('sessions_due_idx')) AS index`,
        )
      ).rows[0];

    // 1. Clean: every repetition starts from the same table and indexes (dead index entries removed).
    const clean = await measure('VACUUM (INDEX_CLEANUP ON) sessions');
    const leaseStatement = sides[0].last();
    if (!leaseStatement) throw new Error('the lease statement was not captured');
    const describe = async (i: number): Promise<ScaleSide> => {
      const side = sides[i];
      const { plan, executionMs } = await explainAnalyze(side.client, side.last()!);
      const size = await sizes(side.client);
      return {
        label: side.label,
        terminalRows: side.terminalRows,
        dueRows: settings.scaleDue,
        timesMs: clean[i],
        medianMs: median(clean[i]),
        plan,
        planExecutionMs: executionMs,
        tableSize: size.table,
        dueIndexSize: size.index,
      };
    };
    const emptySide = await describe(0);
    const largeSide = await describe(1);
    log(`  lease of ${settings.scaleDue}: ${emptySide.medianMs.toFixed(2)} ms (due only) vs ${largeSide.medianMs.toFixed(2)} ms (+ terminal), median of ${settings.scaleReps}`);

    // 2. Churned: the same, but with a plain VACUUM, which skips index clean-up when few pages have dead rows
    //    (as on a big table, where also autovacuum waits for 20 % dead rows): dead index entries pile up.
    const churned = await measure('VACUUM sessions');
    const churnedPlan = await explainAnalyze(sides[1].client, sides[1].last()!);
    const churnedSizes = await Promise.all(sides.map((side) => sizes(side.client)));
    const churn: ScaleResults['churned'] = sides.map((side, i) => ({
      label: side.label,
      timesMs: churned[i],
      medianMs: median(churned[i]),
      dueIndexSize: churnedSizes[i].index,
    }));
    log(`  after churn (plain VACUUM): ${churn[0].medianMs.toFixed(2)} ms vs ${churn[1].medianMs.toFixed(2)} ms`);
    return {
      buildSeconds,
      buildSql: TERMINAL_SQL(settings.scaleTerminalRows),
      empty: emptySide,
      large: largeSide,
      ratio: largeSide.medianMs / emptySide.medianMs,
      leaseSql: leaseStatement.text.replace(/\n\s+/g, '\n  '),
      churned: churn,
      churnedRatio: churn[1].medianMs / churn[0].medianMs,
      churnedPlan: churnedPlan.plan,
    };
  } finally {
    await Promise.all(clients.map((client) => client.end().catch(() => undefined)));
  }
}
