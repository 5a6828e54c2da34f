/**
 * Benchmarks 1 (webhook ingest, fresh and redelivered), 2 (read) and 5
 * (memory), service and bare server side by side on one database, measured
 * A B A B after a warm-up of each; then, as evidence for the report, one
 * ingest run under `node --cpu-prof`, the EXPLAIN of the service's webhook
 * statement and single-client latencies of the service's SQL vs the bare SQL.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RequestSpec } from 'autocannon';
import { API_KEY, type Context, describeServiceEnvironment, startBare, startService, WEBHOOK_TOKEN } from '../lib/context.js';
import { createMigratedDatabase, databaseName, withClient } from '../lib/databases.js';
import { between, scrape, type ServiceView } from '../lib/metrics.js';
import { median, runLoad, summarise, type LoadRun, type LoadSummary } from '../lib/load.js';
import { loadAverage, memoryBreakdown, PostgresCpu, RssSampler, rssBytes, waitForQuiet, type Child } from '../lib/processes.js';
import { summariseProfile, type ProfileSummary } from '../lib/profile.js';
import { captureWebhookStatements, explainAnalyze, repositoryOn, type Statement } from '../lib/statements.js';

const PLACEHOLDER = '00000000-0000-4000-8000-00000000beef';
const FIXTURE = 'test/fixtures/finbox/completion-masked.json';

export interface Comparison {
  name: string;
  service: LoadSummary;
  bare: LoadSummary;
  runs: Array<LoadRun & { server: 'service' | 'bare'; round: number | 'warm-up'; service?: ServiceView }>;
}

export interface HeapReport {
  when: string;
  rssMiB: number;
  heapTotalMiB: number;
  heapUsedMiB: number;
  spaces: Record<string, number>;
  externalMiB: number | null;
}

export interface Explained {
  label: string;
  plan: string;
  executionMs: number | null;
}

export interface HttpResults {
  fixture: string;
  payloadBytes: number;
  serviceCommand: string;
  serviceEnv: string;
  bareCommand: string;
  logFile: string;
  logBytesPerRequest: number | null;
  ingest?: Comparison;
  duplicate?: Comparison;
  read?: Comparison;
  readPool: number;
  memory?: {
    idleAfterStartMiB: number;
    peakMiB: number;
    steadyMiB: number;
    samples: number;
    barePeakMiB: number;
    peakAnyPhaseMiB: number;
    /** smaps_rollup of the service right after the ingest runs. */
    breakdownAfterLoad?: { rssMiB: number; anonymousMiB: number; fileMiB: number };
    breakdownIdle?: { rssMiB: number; anonymousMiB: number; fileMiB: number };
  };
  profile?: { summary: ProfileSummary; run: LoadRun; file: string; heap: HeapReport[]; bare?: { summary: ProfileSummary; run: LoadRun } } | { error: string };
  explain: Explained[];
  sequential: Array<{ label: string; meanMs: number; medianMs: number; n: number; postgresCpuMs: number | null }>;
  /** The webhook statement's text: size, parameters, whether it is the same for every kind of webhook. */
  statementInfo?: { chars: number; parameters: number; sameForAllKinds: boolean };
  statementError?: string;
  loadAverages: string[];
}

function template(root: string): { before: string; after: string; bytes: number; parsed: Record<string, unknown> } {
  const parsed = JSON.parse(readFileSync(join(root, FIXTURE), 'utf8')) as Record<string, unknown>;
  const text = JSON.stringify({ ...parsed, session_id: PLACEHOLDER });
  const [before, after] = text.split(PLACEHOLDER);
  return { before, after, bytes: Buffer.byteLength(text), parsed };
}

const mib = (bytes: number) => bytes / 1024 / 1024;

export async function runHttpSuite(context: Context, which: { ingest: boolean; read: boolean }): Promise<HttpResults> {
  const { settings, log } = context;
  const body = template(context.root);
  const databaseUrl = await createMigratedDatabase('http');
  await withClient(databaseUrl, (client) =>
    client.query(`CREATE TABLE bench_bare_events (id bigserial PRIMARY KEY, body jsonb NOT NULL, received_at timestamptz NOT NULL DEFAULT now())`),
  );
  const postgres = context.server.local ? databaseName('http') : undefined;

  log('http: starting the service (node dist/src/main.js, NODE_ENV=production) and the bare server');
  const { child: service, env } = await startService(context, databaseUrl);
  const bare = await startBare(context, databaseUrl);
  const results: HttpResults = {
    fixture: FIXTURE,
    payloadBytes: body.bytes,
    serviceCommand: 'node dist/src/main.js',
    serviceEnv: describeServiceEnvironment(env),
    bareCommand: 'node dist/bench/bare-server.js',
    logFile: `stdout → ${service.stdoutPath} (pino JSON, LOG_LEVEL=info; removed after the run unless BENCH_KEEP=1)`,
    logBytesPerRequest: null,
    readPool: settings.readPool,
    explain: [],
    sequential: [],
    loadAverages: [],
  };
  const sampler = new RssSampler(service.pid).start();
  const bareSampler = new RssSampler(bare.pid).start();
  await sleep(500);
  const idleRss = rssBytes(service.pid) ?? NaN;
  const idleBreakdown = memoryBreakdown(service.pid);

  let serviceRequests = 0;
  const logSizeBefore = fileSize(service.stdoutPath);

  const fresh = (path: string): RequestSpec => ({
    method: 'POST',
    path,
    headers: { 'content-type': 'application/json', 'x-webhook-token': WEBHOOK_TOKEN },
    setupRequest: (request) => ({ ...request, body: body.before + randomUUID() + body.after }),
  });

  /** Warm-up of each, then `rounds` × (service, bare). */
  const compare = async (name: string, serviceRequest: RequestSpec, bareRequest: RequestSpec, phase: string): Promise<Comparison> => {
    const runs: Comparison['runs'] = [];
    const one = async (server: 'service' | 'bare', round: number | 'warm-up') => {
      const child: Child = server === 'service' ? service : bare;
      const seconds = round === 'warm-up' ? settings.warmupSeconds : settings.seconds;
      if (seconds <= 0) return;
      sampler.label = server === 'service' && round !== 'warm-up' ? `${phase}:measured` : `${phase}:other`;
      results.loadAverages.push(`${name} ${server} ${round}: ${loadAverage()}`);
      const before = server === 'service' ? await scrape(service.url) : undefined;
      const run = await runLoad({
        label: `${name} / ${server} / ${round}`,
        url: child.url,
        connections: settings.connections,
        seconds,
        request: server === 'service' ? serviceRequest : bareRequest,
        pid: child.pid,
        postgres,
      });
      const view = before ? between(before, await scrape(service.url)) : undefined;
      if (server === 'service') serviceRequests += run.total;
      sampler.label = `${phase}:other`;
      runs.push({ ...run, server, round, service: view });
      log(
        `  ${name.padEnd(28)} ${server.padEnd(7)} ${String(round).padEnd(7)} ${run.rps.toFixed(0).padStart(6)} req/s  ` +
          `p50 ${run.p50} ms  p99 ${run.p99} ms  non-2xx ${run.non2xx}  errors ${run.errors + run.timeouts}`,
      );
      await sleep(500);
    };
    await one('service', 'warm-up');
    await one('bare', 'warm-up');
    for (let round = 1; round <= settings.rounds; round++) {
      const quiet = await waitForQuiet(settings.quietWaitSeconds);
      if (quiet.waitedS > 0.6) results.loadAverages.push(`${name} round ${round}: waited ${quiet.waitedS.toFixed(1)} s for a quiet machine (busy ${(quiet.busyShare * 100).toFixed(0)} % at the start)`);
      await one('service', round);
      await one('bare', round);
    }
    const measured = (server: 'service' | 'bare') => runs.filter((run) => run.server === server && run.round !== 'warm-up');
    return { name, service: summarise(measured('service')), bare: summarise(measured('bare')), runs };
  };

  try {
    if (which.ingest) {
      log('http: 1. webhook ingest, a fresh session_id per request');
      results.ingest = await compare('ingest (new session)', fresh('/v1/webhooks/finbox'), fresh('/webhook'), 'ingest');

      log('http: 1b. webhook redelivery, the same stored payload again and again');
      const duplicateBody = body.before + randomUUID() + body.after;
      const first = await fetch(service.url + '/v1/webhooks/finbox', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-webhook-token': WEBHOOK_TOKEN },
        body: duplicateBody,
      });
      if (first.status !== 200) throw new Error(`storing the payload to redeliver answered ${first.status}: ${await first.text()}`);
      const same = (path: string): RequestSpec => ({
        method: 'POST',
        path,
        headers: { 'content-type': 'application/json', 'x-webhook-token': WEBHOOK_TOKEN },
        body: duplicateBody,
      });
      results.duplicate = await compare('ingest (redelivery)', same('/v1/webhooks/finbox'), same('/webhook'), 'ingest');
      const { rows } = await withClient(databaseUrl, (client) =>
        client.query(`SELECT id FROM session_events WHERE payload->>'session_id' = $1`, [JSON.parse(duplicateBody).session_id]),
      );
      log(`  redelivered payload: ${rows.length} stored event(s) (every redelivery was answered 200 and wrote nothing)`);

      const measured = sampler.samples.filter((sample) => sample.label === 'ingest:measured').map((sample) => sample.bytes);
      const all = sampler.samples.map((sample) => sample.bytes);
      results.memory = {
        idleAfterStartMiB: mib(idleRss),
        peakMiB: mib(Math.max(...all)),
        steadyMiB: mib(median(measured)),
        samples: measured.length,
        barePeakMiB: mib(Math.max(...bareSampler.samples.map((sample) => sample.bytes))),
        peakAnyPhaseMiB: NaN,
        breakdownIdle: toMiB(idleBreakdown),
        breakdownAfterLoad: toMiB(memoryBreakdown(service.pid)),
      };
    }

    if (which.read) {
      log(`http: 2. read, seeding ${settings.readPool} sessions through completion webhooks`);
      const ids = Array.from({ length: settings.readPool }, () => randomUUID());
      let next = 0;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < ids.length) {
            const id = ids[next++];
            const response = await fetch(service.url + '/v1/webhooks/finbox', {
              method: 'POST',
              headers: { 'content-type': 'application/json', 'x-webhook-token': WEBHOOK_TOKEN },
              body: body.before + id + body.after,
            });
            await response.arrayBuffer();
            if (response.status !== 200) throw new Error(`seeding answered ${response.status}`);
          }
        }),
      );
      const check = await fetch(`${service.url}/v1/sessions/${ids[0]}`, { headers: { 'x-api-key': API_KEY } });
      const view = (await check.json()) as { status?: string; accounts?: unknown[] };
      if (check.status !== 200 || view.status !== 'COMPLETED' || view.accounts?.length !== 1) {
        throw new Error(`a seeded session reads back wrong: ${check.status} ${JSON.stringify(view).slice(0, 300)}`);
      }
      const pick = () => ids[Math.floor(Math.random() * ids.length)];
      results.read = await compare(
        'read GET /v1/sessions/{id}',
        { method: 'GET', path: '/v1/sessions/x', headers: { 'x-api-key': API_KEY }, setupRequest: (request) => ({ ...request, path: `/v1/sessions/${pick()}` }) },
        { method: 'GET', path: '/sessions/x', headers: { 'x-api-key': API_KEY }, setupRequest: (request) => ({ ...request, path: `/sessions/${pick()}` }) },
        'read',
      );
    }
    if (results.memory) results.memory.peakAnyPhaseMiB = mib(Math.max(...sampler.samples.map((sample) => sample.bytes)));
  } finally {
    sampler.stop();
    bareSampler.stop();
    const logBytes = fileSize(service.stdoutPath) - logSizeBefore;
    results.logBytesPerRequest = serviceRequests > 0 ? logBytes / serviceRequests : null;
    await service.stop();
  }

  try {
    if (which.ingest && settings.profile) {
      const profile = await profileIngest(context, databaseUrl, fresh('/v1/webhooks/finbox'));
      results.profile = profile;
      if (profile && !('error' in profile)) {
        await bare.stop(); // the bare server is profiled in a fresh process of its own, like the service
        const bareProfile = await profileBare(context, databaseUrl, fresh('/webhook'));
        if (bareProfile) profile.bare = bareProfile;
      }
    }
    if (which.ingest) await statementEvidence(context, databaseUrl, body, results);
  } finally {
    await bare.stop();
  }
  return results;
}

function toMiB(breakdown: ReturnType<typeof memoryBreakdown>) {
  return breakdown && { rssMiB: mib(breakdown.rss), anonymousMiB: mib(breakdown.anonymous), fileMiB: mib(breakdown.file) };
}

function fileSize(path: string): number {
  try {
    return readFileSync(path).length;
  } catch {
    return 0;
  }
}

/** The service's diagnostic report (node --report-on-signal): JS heap by space. */
async function heapReport(child: Child, dir: string, when: string): Promise<HeapReport | undefined> {
  const before = new Set(existsSync(dir) ? readdirSync(dir) : []);
  const rss = rssBytes(child.pid) ?? NaN;
  child.proc.kill('SIGUSR2');
  for (let i = 0; i < 50; i++) {
    await sleep(100);
    const file = (existsSync(dir) ? readdirSync(dir) : []).find((name) => !before.has(name) && name.endsWith('.json'));
    if (!file) continue;
    await sleep(100); // written in one go, but let it finish
    try {
      const report = JSON.parse(readFileSync(join(dir, file), 'utf8')) as {
        javascriptHeap: { totalMemory: number; usedMemory: number; heapSpaces: Record<string, { memorySize: number }> };
        resourceUsage?: unknown;
      };
      const heap = report.javascriptHeap;
      return {
        when,
        rssMiB: mib(rss),
        heapTotalMiB: mib(heap.totalMemory),
        heapUsedMiB: mib(heap.usedMemory),
        spaces: Object.fromEntries(Object.entries(heap.heapSpaces).map(([name, space]) => [name, mib(space.memorySize)])),
        externalMiB: null,
      };
    } catch {
      continue;
    }
  }
  return undefined;
}

/** One more ingest run, with the service under `node --cpu-prof`; the profile (of the run only, not start-up) is summarised. */
async function profileIngest(context: Context, databaseUrl: string, request: RequestSpec): Promise<HttpResults['profile']> {
  const { settings, log } = context;
  const dir = join(context.work, 'cpu-profile');
  const reports = join(context.work, 'reports');
  mkdirSync(reports, { recursive: true });
  log('http: profiling one ingest run (node --cpu-prof; diagnostic reports for the heap)');
  try {
    const { child } = await startService(context, databaseUrl, {}, [
      '--cpu-prof',
      `--cpu-prof-dir=${dir}`,
      '--report-on-signal',
      '--report-signal=SIGUSR2',
      `--report-directory=${reports}`,
      '--report-compact',
    ]);
    let run: LoadRun;
    const heap: HeapReport[] = [];
    let window: { fromUs: number; toUs: number };
    try {
      await sleep(500);
      const idle = await heapReport(child, reports, 'idle after start-up');
      if (idle) heap.push(idle);
      const common = { url: child.url, connections: settings.connections, request, pid: child.pid };
      await runLoad({ ...common, label: 'warm-up', seconds: Math.max(1, settings.warmupSeconds) });
      const fromUs = Number(process.hrtime.bigint() / 1000n);
      run = await runLoad({ ...common, label: 'profiled', seconds: settings.seconds });
      window = { fromUs, toUs: Number(process.hrtime.bigint() / 1000n) };
      const after = await heapReport(child, reports, 'right after the profiled ingest run');
      if (after) heap.push(after);
    } finally {
      await child.stop();
    }
    const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'));
    if (!file) return { error: 'no .cpuprofile was written' };
    log(`  profiled run: ${run.rps.toFixed(0)} req/s (profiler overhead included)`);
    return { summary: summariseProfile(join(dir, file), 25, window), run, file: join(dir, file), heap };
  } catch (error) {
    return { error: String(error) };
  }
}

/** The same profiled run against the bare server, for comparison (how much of the profile is the machine, not the service). */
async function profileBare(context: Context, databaseUrl: string, request: RequestSpec): Promise<{ summary: ProfileSummary; run: LoadRun } | undefined> {
  const { settings, log } = context;
  const dir = join(context.work, 'cpu-profile-bare');
  try {
    const child = await startBare(context, databaseUrl, ['--cpu-prof', `--cpu-prof-dir=${dir}`]);
    let run: LoadRun;
    let window: { fromUs: number; toUs: number };
    try {
      const common = { url: child.url, connections: settings.connections, request, pid: child.pid };
      await runLoad({ ...common, label: 'warm-up', seconds: Math.max(1, settings.warmupSeconds) });
      const fromUs = Number(process.hrtime.bigint() / 1000n);
      run = await runLoad({ ...common, label: 'profiled', seconds: settings.seconds });
      window = { fromUs, toUs: Number(process.hrtime.bigint() / 1000n) };
    } finally {
      await child.stop();
    }
    const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'));
    if (!file) return undefined;
    log(`  profiled bare run: ${run.rps.toFixed(0)} req/s`);
    return { summary: summariseProfile(join(dir, file), 10, window), run };
  } catch (error) {
    log(`  could not profile the bare server: ${String(error)}`);
    return undefined;
  }
}

/**
 * The service's own webhook statement (captured from SessionsService.receiveWebhook), EXPLAIN
 * ANALYZEd on the benchmark's database, and timed from one client against the bare INSERT.
 */
async function statementEvidence(
  context: Context,
  databaseUrl: string,
  body: { before: string; after: string },
  results: HttpResults,
): Promise<void> {
  const env = { DATABASE_URL: databaseUrl, WEBHOOK_TOKENS: WEBHOOK_TOKEN, API_KEYS: API_KEY };
  const payload = (id: string) => JSON.parse(body.before + id + body.after) as unknown;
  const postgres = context.server.local ? databaseName('http') : undefined;
  try {
    await withClient(databaseUrl, async (client) => {
      const freshStatement = async (): Promise<Statement> => {
        const statements = await captureWebhookStatements(payload(randomUUID()), env);
        if (statements.length !== 1) throw new Error(`receiveWebhook sent ${statements.length} statements (expected 1)`);
        return statements[0];
      };
      const bareInsert = (): Statement => ({ text: 'INSERT INTO bench_bare_events (body) VALUES ($1::jsonb)', values: [body.before + randomUUID() + body.after] });

      // Is the text the same for every kind of webhook (so that it could be a prepared statement)?
      const sample = await freshStatement();
      const kinds = ['completion-documented.json', 'completion-old-name.json', 'expiry.json', 'enrichment-success.json', 'enrichment-failed.json'];
      let same = true;
      for (const kind of kinds) {
        const other = JSON.parse(readFileSync(join(context.root, 'test/fixtures/finbox', kind), 'utf8')) as unknown;
        const [statement] = await captureWebhookStatements(other, env);
        if (statement?.text !== sample.text) same = false;
      }
      results.statementInfo = { chars: sample.text.length, parameters: sample.values.length, sameForAllKinds: same };

      results.explain.push({ label: 'service webhook statement, new session (SessionsRepository.apply)', ...(await explainAnalyze(client, await freshStatement())) });
      // A redelivery: store one payload, then explain the same statement again.
      const storedId = randomUUID();
      const [stored] = await captureWebhookStatements(payload(storedId), env);
      await client.query(stored.text, stored.values);
      const [again] = await captureWebhookStatements(payload(storedId), env);
      results.explain.push({ label: 'service webhook statement, redelivery of a stored payload', ...(await explainAnalyze(client, again)) });
      results.explain.push({ label: 'bare server INSERT', ...(await explainAnalyze(client, bareInsert())) });

      // Single client, autocommit, one statement at a time: the database's own latency per webhook/read.
      const time = async (label: string, n: number, make: () => Promise<Statement> | Statement, name?: string) => {
        const samples: number[] = [];
        const statements: Statement[] = [];
        for (let i = 0; i < n; i++) statements.push(await make());
        const pgCpu = postgres !== undefined ? new PostgresCpu(postgres).start() : undefined;
        for (const statement of statements) {
          const started = performance.now();
          await client.query(name ? { name, text: statement.text, values: statement.values } : { text: statement.text, values: statement.values });
          samples.push(performance.now() - started);
        }
        const pg = pgCpu?.stop();
        results.sequential.push({
          label,
          n,
          meanMs: samples.reduce((a, b) => a + b, 0) / n,
          medianMs: median(samples),
          postgresCpuMs: pg !== undefined ? pg / n : null,
        });
      };
      await time('service webhook statement (new session), as the service sends it (unnamed: parsed and planned every time)', 300, freshStatement);
      await time('the same statement as a named prepared statement (parsed once per connection)', 300, freshStatement, 'bench_apply');
      await time('bare INSERT, autocommit', 300, bareInsert);
      const { rows } = await client.query<{ session_id: string }>(`SELECT session_id FROM sessions ORDER BY random() LIMIT 300`);
      const { repository, last } = repositoryOn(client);
      let i = 0;
      await repository.find(rows[0].session_id);
      const findStatement = last()!;
      await time('service read statement (SessionsRepository.find)', rows.length, () => ({ text: findStatement.text, values: [rows[i++ % rows.length].session_id] }));
      let j = 0;
      await time('bare read (SELECT * FROM sessions WHERE session_id = $1)', rows.length, () => ({ text: 'SELECT * FROM sessions WHERE session_id = $1', values: [rows[j++ % rows.length].session_id] }));
    });
  } catch (error) {
    results.statementError = String(error);
    context.log(`  could not capture/explain the service's statements: ${String(error)}`);
  }
}
