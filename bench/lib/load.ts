/**
 * One autocannon run (programmatic API), with the CPU time the server process
 * and the local Postgres spent on it.
 */
import autocannon, { type RequestSpec } from 'autocannon';
import { cpus } from 'node:os';
import { cpuMs, involuntarySwitches, machineBusyMs, PostgresCpu, selfCpuMs } from './processes.js';

export interface LoadRun {
  label: string;
  /** 2xx responses per second over the run. */
  rps: number;
  p50: number;
  p99: number;
  mean: number;
  total: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  durationS: number;
  statusCodes: Record<string, number>;
  /** CPU ms of the server process per 2xx response. */
  serverCpuMsPerReq: number | null;
  /** CPU ms of the bench databases' Postgres backends per 2xx response. */
  postgresCpuMsPerReq: number | null;
  /** CPU ms of the load generator (the bench process) per 2xx response. */
  clientCpuMsPerReq: number;
  /** Share of the machine's CPU (all cores) used by anything else during the run: other tests, builds, daemons. */
  otherCpuShare: number;
  /** Times per 2xx response the server's main thread was preempted (runnable, but the CPU went to another task). */
  preemptionsPerReq: number | null;
}

export interface LoadOptions {
  label: string;
  url: string;
  connections: number;
  seconds: number;
  request: RequestSpec;
  /** The server's pid, for its CPU time. */
  pid: number;
  /** Command-line match of the Postgres backends to count (the bench database name); undefined: not measured. */
  postgres?: string;
}

export async function runLoad(options: LoadOptions): Promise<LoadRun> {
  const cpuBefore = cpuMs(options.pid);
  const switchesBefore = involuntarySwitches(options.pid);
  const pgCpu = options.postgres !== undefined ? new PostgresCpu(options.postgres).start() : undefined;
  const clientBefore = selfCpuMs();
  const machineBefore = machineBusyMs();
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.seconds,
    pipelining: 1,
    timeout: 10,
    requests: [options.request],
  });
  const cpuAfter = cpuMs(options.pid);
  const switchesAfter = involuntarySwitches(options.pid);
  const pg = pgCpu?.stop();
  const client = selfCpuMs() - clientBefore;
  const machine = machineBusyMs() - machineBefore;
  const ok = result['2xx'];
  const statusCodes = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, { count }]) => [code, Number(count)]));
  return {
    label: options.label,
    rps: ok / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    mean: result.latency.mean ?? result.latency.average,
    total: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    durationS: result.duration,
    statusCodes,
    serverCpuMsPerReq: cpuBefore !== undefined && cpuAfter !== undefined && ok > 0 ? (cpuAfter - cpuBefore) / ok : null,
    postgresCpuMsPerReq: pg !== undefined && ok > 0 ? pg / ok : null,
    clientCpuMsPerReq: ok > 0 ? client / ok : NaN,
    otherCpuShare: otherShare(machine, [cpuAfter! - cpuBefore!, pg ?? 0, client], result.duration),
    preemptionsPerReq: switchesBefore !== undefined && switchesAfter !== undefined && ok > 0 ? (switchesAfter - switchesBefore) / ok : null,
  };
}

/** What the rest of the machine used, as a share of all cores over `seconds`. */
export function otherShare(machineMs: number, oursMs: number[], seconds: number): number {
  const ours = oursMs.filter(Number.isFinite).reduce((a, b) => a + b, 0);
  return Math.max(0, machineMs - ours) / (seconds * 1000 * cpus().length);
}

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** The median of each figure over the measured rounds. */
export function summarise(runs: LoadRun[]) {
  const of = (pick: (run: LoadRun) => number | null) => {
    const values = runs.map(pick).filter((value): value is number => value !== null);
    return values.length ? median(values) : null;
  };
  return {
    rps: of((run) => run.rps) ?? NaN,
    p50: of((run) => run.p50) ?? NaN,
    p99: of((run) => run.p99) ?? NaN,
    non2xx: runs.reduce((sum, run) => sum + run.non2xx, 0),
    errors: runs.reduce((sum, run) => sum + run.errors + run.timeouts, 0),
    total: runs.reduce((sum, run) => sum + run.total, 0),
    serverCpuMsPerReq: of((run) => run.serverCpuMsPerReq),
    postgresCpuMsPerReq: of((run) => run.postgresCpuMsPerReq),
    clientCpuMsPerReq: of((run) => run.clientCpuMsPerReq),
    otherCpuShare: of((run) => run.otherCpuShare),
    preemptionsPerReq: of((run) => run.preemptionsPerReq),
  };
}
export type LoadSummary = ReturnType<typeof summarise>;
