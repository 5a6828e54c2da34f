/**
 * Every knob of `npm run bench`, read from the environment once. Defaults keep
 * the whole run to about six minutes on a 2-core machine.
 */

function num(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a number >= 0 (got ${JSON.stringify(raw)})`);
  return value;
}

function bool(name: string, fallback: boolean): boolean {
  const raw = process.env[name]?.trim().toLowerCase();
  if (!raw) return fallback;
  return ['1', 'true', 'yes', 'on'].includes(raw);
}

export const BENCHMARKS = ['ingest', 'read', 'reconcile', 'scale'] as const;
export type BenchmarkName = (typeof BENCHMARKS)[number];

function only(): BenchmarkName[] {
  const raw = process.env.BENCH_ONLY?.trim();
  if (!raw) return [...BENCHMARKS];
  const names = raw.split(',').map((name) => name.trim());
  for (const name of names) {
    if (!(BENCHMARKS as readonly string[]).includes(name)) throw new Error(`BENCH_ONLY: unknown benchmark ${name} (one of ${BENCHMARKS.join(', ')})`);
  }
  return names as BenchmarkName[];
}

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';

export function readSettings() {
  const selected = only();
  return {
    /** Where the bench databases are created (the URL's database is only used to connect). */
    databaseUrl: process.env.BENCH_DATABASE_URL || process.env.DATABASE_URL || DEFAULT_DATABASE_URL,
    databaseUrlSource: process.env.BENCH_DATABASE_URL ? 'BENCH_DATABASE_URL' : process.env.DATABASE_URL ? 'DATABASE_URL' : 'default',
    /** Seconds per measured autocannon run. */
    seconds: num('BENCH_SECONDS', 8),
    /** Seconds of the warm-up run against each server before the measured rounds. */
    warmupSeconds: num('BENCH_WARMUP_SECONDS', 2),
    /** Measured rounds per comparison (each round: service then bare). */
    rounds: Math.max(1, Math.round(num('BENCH_ROUNDS', 2))),
    connections: Math.max(1, Math.round(num('BENCH_CONNECTIONS', 32))),
    /** Sessions created by completion webhooks and read back at random. */
    readPool: Math.max(1, Math.round(num('BENCH_READ_POOL', 1000))),
    reconcileSessions: Math.max(1, Math.round(num('BENCH_RECONCILE_SESSIONS', 5000))),
    reconcileRounds: Math.max(1, Math.round(num('BENCH_RECONCILE_ROUNDS', 2))),
    finboxLatencyMs: num('BENCH_FINBOX_LATENCY_MS', 50),
    scaleTerminalRows: Math.round(num('BENCH_SCALE_ROWS', 1_000_000)),
    scaleDue: Math.max(1, Math.round(num('BENCH_SCALE_DUE', 1000))),
    scaleReps: Math.max(1, Math.round(num('BENCH_SCALE_REPS', 11))),
    /** Before each measured round, wait up to this long for the machine to be quiet (others' tests); 0: do not wait. */
    quietWaitSeconds: num('BENCH_QUIET_WAIT_SECONDS', 5),
    /** One extra ingest run of the service under `node --cpu-prof`, summarised in BENCHMARKS.md. */
    profile: bool('BENCH_PROFILE', true),
    /** Keep the service/bare logs and the .cpuprofile (their folder is printed). */
    keepArtifacts: bool('BENCH_KEEP', false),
    only: selected,
    full: selected.length === BENCHMARKS.length,
    /** Write BENCHMARKS.md even for a partial run (BENCH_ONLY). */
    forceWrite: bool('BENCH_WRITE', false),
  };
}

export type Settings = ReturnType<typeof readSettings>;
