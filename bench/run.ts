/**
 * `npm run bench`: webhook ingest, reads, the reconciler's rate, the lease
 * query at scale and the service's memory, each measured against a floor
 * (a bare Fastify + pg server, the rate cap, the ideal, an empty table).
 * Prints the final table and writes BENCHMARKS.md. Knobs: bench/lib/settings.ts.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Context } from './lib/context.js';
import { dropAll, openServer } from './lib/databases.js';
import { machineInfo } from './lib/machine.js';
import { killAllNow, stopAll } from './lib/processes.js';
import { consoleTable, markdown, otherLoadLine, summaryRows, type Results } from './lib/report.js';
import { readSettings } from './lib/settings.js';
import { runHttpSuite } from './suites/http.js';
import { runReconcileSuite } from './suites/reconcile.js';
import { runScaleSuite } from './suites/scale.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const started = Date.now();
const log = (line: string) => console.log(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`);

let cleaning: Promise<void> | undefined;
let work: string | undefined;
let keep = false;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await stopAll();
    await dropAll();
    if (work && !keep) rmSync(work, { recursive: true, force: true });
  })();
  return cleaning;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping the benchmark's processes and dropping its databases`);
    void cleanup().finally(() => process.exit(130));
  });
}
process.on('exit', killAllNow);

async function main(): Promise<number> {
  const settings = readSettings();
  keep = settings.keepArtifacts;
  work = mkdtempSync(join(tmpdir(), 'finbox-bench-'));
  const server = await openServer(settings.databaseUrl, settings.databaseUrlSource, log);
  log(`Postgres: ${server.origin}`);
  const context: Context = { root, settings, server, work, log };
  const results: Results = {
    startedAt: new Date(started),
    durationS: 0,
    settings,
    machine: machineInfo(root, server),
    errors: [],
    work,
  };

  const attempt = async (name: string, run: () => Promise<void>) => {
    try {
      await run();
    } catch (error) {
      const message = `${name}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`;
      results.errors.push(message);
      log(`FAILED ${message}`);
      await stopAll();
    }
  };
  const selected = new Set(settings.only);
  if (selected.has('ingest') || selected.has('read')) {
    await attempt('ingest/read', async () => {
      results.http = await runHttpSuite(context, { ingest: selected.has('ingest'), read: selected.has('read') });
    });
  }
  if (selected.has('reconcile')) await attempt('reconcile', async () => void (results.reconcile = await runReconcileSuite(context)));
  if (selected.has('scale')) await attempt('scale', async () => void (results.scale = await runScaleSuite(context)));
  results.durationS = (Date.now() - started) / 1000;

  console.log('\n' + consoleTable(summaryRows(results)) + '\n');
  const other = otherLoadLine(results).replace(/\*\*/g, '');
  if (other) console.log(other + '\n');
  if (settings.full || settings.forceWrite) {
    writeFileSync(join(root, 'BENCHMARKS.md'), markdown(results));
    log('wrote BENCHMARKS.md');
  } else {
    log('partial run (BENCH_ONLY): BENCHMARKS.md left as it was (BENCH_WRITE=1 writes it)');
  }
  if (keep) log(`logs and profile kept in ${work}`);
  if (results.errors.length) log(`${results.errors.length} benchmark(s) failed`);
  return results.errors.length ? 1 : 0;
}

let code = 1;
try {
  code = await main();
} catch (error) {
  console.error(error);
} finally {
  await cleanup();
}
process.exit(code);
