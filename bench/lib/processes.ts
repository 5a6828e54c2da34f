/**
 * Child processes of the benchmark (the service, the bare server): started
 * with `node` directly (so the pid is the measured process), stdout and
 * stderr to files, stopped by pid, and always cleaned up on exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Child {
  name: string;
  pid: number;
  port: number;
  url: string;
  stdoutPath: string;
  stderrPath: string;
  proc: ChildProcess;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

const running = new Set<Child>();

export interface StartOptions {
  name: string;
  /** Arguments after `node`, e.g. ['dist/src/main.js'] or ['--cpu-prof', 'dist/src/main.js']. */
  args: string[];
  env: Record<string, string>;
  cwd: string;
  stdoutPath: string;
  stderrPath: string;
  port: number;
  /** Path answering 200 once the process is ready. */
  readyPath: string;
  readyTimeoutMs?: number;
}

export async function startChild(options: StartOptions): Promise<Child> {
  const out = openSync(options.stdoutPath, 'a');
  const err = openSync(options.stderrPath, 'a');
  const proc = spawn(process.execPath, options.args, {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', out, err],
  });
  closeSync(out);
  closeSync(err);
  if (proc.pid === undefined) throw new Error(`${options.name}: could not start`);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))));
  const url = `http://127.0.0.1:${options.port}`;
  const child: Child = {
    name: options.name,
    pid: proc.pid,
    port: options.port,
    url,
    stdoutPath: options.stdoutPath,
    stderrPath: options.stderrPath,
    proc,
    exited,
    stop: async () => {
      running.delete(child);
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const done = await Promise.race([exited.then(() => true), sleep(15_000).then(() => false)]);
      if (!done) {
        proc.kill('SIGKILL');
        await exited;
      }
    },
  };
  running.add(child);

  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code));
  for (;;) {
    if (exitCode !== undefined) {
      throw new Error(`${options.name} exited (${exitCode}) before it was ready:\n${tail(options.stdoutPath)}\n${tail(options.stderrPath)}`);
    }
    try {
      const response = await fetch(url + options.readyPath, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      if (response.ok) return child;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await child.stop();
      throw new Error(`${options.name} not ready after ${options.readyTimeoutMs ?? 60_000} ms:\n${tail(options.stdoutPath)}\n${tail(options.stderrPath)}`);
    }
    await sleep(200);
  }
}

/** Stops every child still running (used on failure and on signals). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((child) => child.stop().catch(() => undefined)));
}

/** Synchronous last resort (process 'exit' handler): SIGKILL every child still running. */
export function killAllNow(): void {
  for (const child of running) {
    try {
      child.proc.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

export function tail(path: string, lines = 30): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Resident set size in bytes (VmRSS), or undefined if the process is gone. */
export function rssBytes(pid: number): number | undefined {
  try {
    const match = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Linux clock ticks per second for /proc/<pid>/stat (USER_HZ: 100 on every mainstream kernel). */
const CLOCK_TICKS = 100;

/** CPU time (user + system) of one process in ms, or undefined when it is gone. */
export function cpuMs(pid: number): number | undefined {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.cpuMs;
  } catch {
    return undefined;
  }
}

function parseStat(text: string): { comm: string; cpuMs: number } | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < 0) return undefined;
  const fields = text.slice(close + 2).split(' ');
  // fields[0] is field 3 (state): utime is field 14, stime field 15.
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { comm: text.slice(open + 1, close), cpuMs: (ticks * 1000) / CLOCK_TICKS };
}

/** CPU ms of each local `postgres` process whose command line (its process title, which names the database) contains `match`. */
function postgresProcesses(match: string): Map<number, number> {
  const found = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = parseStat(readFileSync(`/proc/${entry}/stat`, 'utf8'));
      if (stat?.comm !== 'postgres') continue;
      if (match && !readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(match)) continue;
      found.set(Number(entry), stat.cpuMs);
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

/**
 * CPU time spent by the Postgres backends of the bench databases (matched by
 * their process title: "postgres: 15/main: user <database> host(port) state")
 * between start() and stop(): not other users of the same server, nor the WAL
 * writer or checkpointer. Backends come and go (pools close idle connections),
 * so each is sampled every second and its last reading kept.
 */
export class PostgresCpu {
  private readonly first = new Map<number, number>();
  private readonly last = new Map<number, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly match: string) {}

  start(): this {
    for (const [pid, ms] of postgresProcesses(this.match)) {
      this.first.set(pid, ms);
      this.last.set(pid, ms);
    }
    this.timer = setInterval(() => this.sample(), 1000);
    this.timer.unref();
    return this;
  }

  private sample(): void {
    for (const [pid, ms] of postgresProcesses(this.match)) {
      if (!this.first.has(pid)) this.first.set(pid, 0); // a backend started during the period: all of it counts
      this.last.set(pid, ms);
    }
  }

  /** CPU ms used since start(). */
  stop(): number {
    if (this.timer) clearInterval(this.timer);
    this.sample();
    let total = 0;
    for (const [pid, ms] of this.last) total += ms - (this.first.get(pid) ?? 0);
    return total;
  }
}

/** Busy CPU time of the whole machine (all cores) from /proc/stat, in ms. */
export function machineBusyMs(): number {
  try {
    const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
    const [user, nice, system, , , irq, softirq, steal] = fields.map(Number);
    return ((user + nice + system + irq + softirq + (steal || 0)) * 1000) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

/** The bench process's own CPU time in ms (autocannon, the in-process sandbox). */
export function selfCpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

/** Samples a process's RSS every `everyMs` until stopped. */
export class RssSampler {
  readonly samples: Array<{ at: number; bytes: number; label: string }> = [];
  private timer: NodeJS.Timeout | undefined;
  label = 'idle';

  constructor(
    private readonly pid: number,
    private readonly everyMs = 200,
  ) {}

  start(): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.everyMs);
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private sample(): void {
    const bytes = rssBytes(this.pid);
    if (bytes !== undefined) this.samples.push({ at: Date.now(), bytes, label: this.label });
  }
}

export function loadAverage(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return 'n/a';
  }
}

/** /proc/<pid>/smaps_rollup in bytes: what the resident memory is made of (anonymous = heaps; file = code, shared libraries). */
export function memoryBreakdown(pid: number): { rss: number; anonymous: number; file: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024;
    return { rss: field('Rss'), anonymous: field('Anonymous'), file: field('Pss_File') };
  } catch {
    return undefined;
  }
}

/**
 * Waits (up to `maxWaitS`) for a half-second in which the machine is mostly
 * idle (busy share of all cores ≤ `threshold`), so that a measured run does
 * not start in the middle of someone else's test run. Returns how long it
 * waited and the last busy share seen.
 */
export async function waitForQuiet(maxWaitS: number, threshold = 0.15): Promise<{ waitedS: number; busyShare: number }> {
  const started = Date.now();
  const cores = cpus().length;
  let busyShare = NaN;
  if (maxWaitS <= 0) return { waitedS: 0, busyShare };
  for (;;) {
    const before = machineBusyMs();
    await sleep(500);
    busyShare = (machineBusyMs() - before) / (500 * cores);
    const waitedS = (Date.now() - started) / 1000;
    if (busyShare <= threshold || waitedS >= maxWaitS) return { waitedS, busyShare };
  }
}

/** Involuntary context switches of a process's main thread (it was runnable but another task got the CPU). */
export function involuntarySwitches(pid: number): number | undefined {
  try {
    const match = /nonvoluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}
