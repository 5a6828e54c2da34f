/**
 * Summary of a V8 .cpuprofile (node --cpu-prof): self time by function and by
 * module (npm package, service file, node core, GC, idle).
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileRow {
  name: string;
  selfMs: number;
  /** Share of the busy (non-idle) time. */
  share: number;
}

export interface ProfileSummary {
  totalMs: number;
  idleMs: number;
  busyMs: number;
  functions: ProfileRow[];
  modules: ProfileRow[];
  /** Busy time whose stack passes through each of these frames (inclusive). */
  inclusive: ProfileRow[];
}

const SPECIAL = new Set(['(program)', '(idle)', '(garbage collector)', '(root)']);

export function moduleOf(url: string, functionName: string): string {
  if (!url) return SPECIAL.has(functionName) ? functionName : '(native / V8 builtins)';
  if (url.startsWith('node:')) return 'node core (' + url.slice(5).split('/').slice(0, 2).join('/') + ')';
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const parts = path.slice(nm + '/node_modules/'.length).split('/');
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
  }
  const dist = path.indexOf('/dist/');
  if (dist >= 0) return 'service: ' + path.slice(dist + '/dist/'.length);
  return path;
}

function shortUrl(url: string): string {
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) return path.slice(nm + '/node_modules/'.length);
  const dist = path.indexOf('/dist/');
  if (dist >= 0) return path.slice(dist + 1);
  return path;
}

/** Inclusive time of frames whose function name matches one of these (a rough breakdown of where a request goes). */
const INCLUSIVE_PROBES: Array<[string, (frame: ProfileNode['callFrame']) => boolean]> = [
  ['pino / pino-http (request logging)', (f) => /node_modules\/(pino|pino-http|nestjs-pino)\//.test(f.url)],
  ['class-validator / class-transformer', (f) => /node_modules\/class-(validator|transformer)\//.test(f.url)],
  ['pg (driver)', (f) => /node_modules\/(pg|pg-protocol|pg-pool)\//.test(f.url)],
  ['typeorm', (f) => /node_modules\/typeorm\//.test(f.url)],
  ['@nestjs/* (framework)', (f) => /node_modules\/@nestjs\//.test(f.url)],
  ['fastify', (f) => /node_modules\/(fastify|@fastify|find-my-way|avvio|light-my-request)\//.test(f.url)],
  ['prom-client (metrics)', (f) => /node_modules\/prom-client\//.test(f.url)],
  ['rxjs', (f) => /node_modules\/rxjs\//.test(f.url)],
  ['service code (dist/src)', (f) => /\/dist\/src\//.test(f.url)],
  ['JSON.stringify / JSON.parse', (f) => /^(stringify|parse)$/.test(f.functionName) && !f.url],
];

/**
 * `window`: only samples taken between these CLOCK_MONOTONIC instants, in µs
 * (process.hrtime.bigint() / 1000n in any process on the machine: V8's profile
 * timestamps use the same clock on Linux), e.g. the load run without start-up.
 */
export function summariseProfile(path: string, top = 20, window?: { fromUs: number; toUs: number }): ProfileSummary {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

  const selfById = new Map<number, number>();
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    if (window && (at < window.fromUs || at > window.toUs)) continue;
    // timeDeltas[i] is the time since the previous sample: charge it to the sample that ended that interval.
    const delta = (profile.timeDeltas[i] ?? 0) / 1000;
    selfById.set(profile.samples[i], (selfById.get(profile.samples[i]) ?? 0) + delta);
  }

  const functions = new Map<string, number>();
  const modules = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, ms] of selfById) {
    const node = byId.get(id);
    if (!node) continue;
    total += ms;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') {
      idle += ms;
      continue;
    }
    const name = `${functionName || '(anonymous)'}${url ? ` ${shortUrl(url)}:${lineNumber + 1}` : ''}`;
    functions.set(name, (functions.get(name) ?? 0) + ms);
    const module = moduleOf(url, functionName);
    modules.set(module, (modules.get(module) ?? 0) + ms);

    // Inclusive: each probe counted once per sample stack.
    const hit = new Set<string>();
    for (let cursor: number | undefined = id; cursor !== undefined; cursor = parent.get(cursor)) {
      const frame = byId.get(cursor)?.callFrame;
      if (!frame) break;
      for (const [label, test] of INCLUSIVE_PROBES) if (!hit.has(label) && test(frame)) hit.add(label);
    }
    for (const label of hit) inclusive.set(label, (inclusive.get(label) ?? 0) + ms);
  }
  const busy = total - idle;
  const rows = (map: Map<string, number>, limit: number) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([name, selfMs]) => ({ name, selfMs, share: busy > 0 ? selfMs / busy : 0 }));
  return {
    totalMs: total,
    idleMs: idle,
    busyMs: busy,
    functions: rows(functions, top),
    modules: rows(modules, top),
    inclusive: rows(inclusive, INCLUSIVE_PROBES.length),
  };
}
