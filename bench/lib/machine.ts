/** The machine a run was made on, for BENCHMARKS.md. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import type { Server } from './databases.js';

export interface Machine {
  cpuModel: string;
  cores: number;
  ramGiB: number;
  kernel: string;
  node: string;
  postgres: string;
  postgresSettings: Record<string, string>;
  postgresOrigin: string;
  autocannon: string;
  fastify: string;
  pg: string;
  git: string;
}

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function packageVersion(root: string, name: string): string {
  try {
    return (JSON.parse(read(`${root}/node_modules/${name}/package.json`)) as { version: string }).version;
  } catch {
    return '?';
  }
}

function git(root: string): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: root, encoding: 'utf8' })
      .split('\n')
      .filter(Boolean).length;
    return dirty ? `${head} + ${dirty} uncommitted change(s) under src/ (the working tree as built)` : head;
  } catch {
    return 'unknown';
  }
}

export function machineInfo(root: string, server: Server): Machine {
  const model = /model name\s*:\s*(.+)/.exec(read('/proc/cpuinfo'))?.[1]?.trim() ?? cpus()[0]?.model ?? 'unknown';
  return {
    cpuModel: model,
    cores: cpus().length,
    ramGiB: totalmem() / 1024 ** 3,
    kernel: release(),
    node: process.version,
    postgres: server.version,
    postgresSettings: server.settings,
    postgresOrigin: server.origin,
    autocannon: packageVersion(root, 'autocannon'),
    fastify: packageVersion(root, 'fastify'),
    pg: packageVersion(root, 'pg'),
    git: git(root),
  };
}
