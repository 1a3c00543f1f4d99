/** What the figures were measured on: the machine, its load, the services and the peers' versions. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from './paths.ts';

export interface MachineInfo {
  date: string;
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  loadAverage: number[];
  os: string;
  node: string;
  versions: Record<string, string>;
}

function packageVersion(name: string): string {
  try {
    const file = path.join(REPO_ROOT, 'node_modules', name, 'package.json');
    return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    return 'not installed';
  }
}

function command(file: string, args: string[], pick: (out: string) => string): string {
  try {
    return pick(execFileSync(file, args, { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] }));
  } catch {
    return 'unknown';
  }
}

export function machineInfo(): MachineInfo {
  return {
    date: new Date().toISOString(),
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    loadAverage: os.loadavg().map((v) => Math.round(v * 100) / 100),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    versions: {
      hourglass: packageVersion('..'),
      bullmq: packageVersion('bullmq'),
      'pg-boss': packageVersion('pg-boss'),
      'graphile-worker': packageVersion('graphile-worker'),
      ioredis: packageVersion('ioredis'),
      pg: packageVersion('pg'),
      amqplib: packageVersion('amqplib'),
      postgres: command('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-tAc', 'SHOW server_version'], (o) => o.trim()),
      redis: command('redis-cli', ['INFO', 'server'], (o) => /redis_version:(\S+)/.exec(o)?.[1] ?? 'unknown'),
      rabbitmq: command('rabbitmqctl', ['version'], (o) => o.trim().split('\n')[0] ?? 'unknown'),
    },
  };
}
