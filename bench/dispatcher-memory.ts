/**
 * The dispatcher as it ships, alone in its process, with many schedules: `dist/cli/bin/scheduler-dispatcher.js`
 * (compiled JavaScript, as `npm install` gives it; no TypeScript stripper loaded), its RSS after the load and at
 * its peak (VmHWM), its CPU and its garbage collections, while a worker in this process runs the fires and
 * measures their lag. The `scale` scenario of `npm run bench` measures one process holding the dispatcher, the
 * worker, the history writer and the bench; this one measures what a dispatcher Deployment holds, with or
 * without a memory limit (a memory cgroup, as Kubernetes gives a container: V8 sizes its heap from it).
 *
 *   node bench/dispatcher-memory.ts [--schedules 100000] [--seconds 75] [--memory-limit-mb 300] [--node-flags=--max-semi-space-size=16] [--no-build]
 *
 * `--memory-limit-mb` needs root and a writable memory cgroup (v1 or v2); without one it stops with an error.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { procCpuMs } from './lib/cpu.ts';
import { REPO_ROOT } from './lib/paths.ts';
import { procMemoryMb } from './lib/proc-memory.ts';
import { latencies } from './lib/stats.ts';
import { HourglassSystem } from './systems/hourglass.ts';
import { CONCURRENCY } from './scenarios/throughput.ts';

const { values: flags } = parseArgs({
  options: {
    schedules: { type: 'string', default: '100000' },
    seconds: { type: 'string', default: '75' },
    'memory-limit-mb': { type: 'string' },
    'no-build': { type: 'boolean', default: false },
    'node-flags': { type: 'string', default: '' },
    help: { type: 'boolean', default: false },
  },
});
if (flags.help) {
  console.log('node bench/dispatcher-memory.ts [--schedules 100000] [--seconds 75] [--memory-limit-mb MB] [--node-flags FLAGS] [--no-build]');
  process.exit(0);
}
const schedules = Number(flags.schedules);
const seconds = Number(flags.seconds);
const limitMb = flags['memory-limit-mb'] === undefined ? undefined : Number(flags['memory-limit-mb']);
for (const [name, value] of [['--schedules', schedules], ['--seconds', seconds], ['--memory-limit-mb', limitMb ?? 1]] as const) {
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name}: a positive whole number, not ${String(value)}`);
}
// the first seconds load the schedules and catch up: lag, CPU and collections are counted after them
const WARM_UP_MS = 10_000;
if (seconds * 1000 <= WARM_UP_MS) throw new Error(`--seconds: more than ${WARM_UP_MS / 1000}, the warm-up`);

/** A memory cgroup of its own under this process's, limited to `mb`: v1 (memory.limit_in_bytes) or v2 (memory.max). */
function memoryCgroup(mb: number): { dir: string; remove: () => void } {
  const lines = fs.readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n');
  const v1 = lines.map((l) => l.split(':')).find(([, controllers]) => controllers?.split(',').includes('memory'));
  const v2 = lines.map((l) => l.split(':')).find(([id, controllers]) => id === '0' && controllers === '');
  const base = v1 ? path.join('/sys/fs/cgroup/memory', v1[2] as string) : v2 ? path.join('/sys/fs/cgroup', v2[2] as string) : undefined;
  if (!base) throw new Error('--memory-limit-mb: this process is in no memory cgroup (/proc/self/cgroup)');
  const dir = path.join(base, `hourglass-bench-${process.pid}`);
  try {
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, v1 ? 'memory.limit_in_bytes' : 'memory.max'), String(mb * 2 ** 20));
  } catch (error) {
    throw new Error(`--memory-limit-mb: cannot make a memory cgroup at ${dir} (needs root and a writable cgroup): ${(error as Error).message}`, { cause: error });
  }
  // an empty cgroup is removed with rmdir (its files are the kernel's)
  return { dir, remove: () => fs.rmdirSync(dir) };
}

if (!flags['no-build']) {
  // the compiled tree, as it ships: built now, so it is the tree being measured
  const built = spawnSync(process.execPath, [path.join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: REPO_ROOT, stdio: 'inherit' });
  if (built.status !== 0) throw new Error('tsc -p tsconfig.build.json failed');
  const copied = spawnSync(process.execPath, ['scripts/copy-assets.mjs'], { cwd: REPO_ROOT, stdio: 'inherit' });
  if (copied.status !== 0) throw new Error('scripts/copy-assets.mjs failed');
}

const system = new HourglassSystem('postgres');
await system.setup();
const lags: number[] = [];
let windowFrom = Infinity;
let windowTo = Infinity;
await system.startWorker(CONCURRENCY, (_key, intendedMs) => {
  if (intendedMs !== undefined && intendedMs >= windowFrom && intendedMs < windowTo) lags.push(Date.now() - intendedMs);
});
await system.insertScheduledTasks(schedules, (i) => `${i % 60} * * * * *`);

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-dispatcher-memory-'));
const config = path.join(work, 'dispatcher.toml');
fs.writeFileSync(config, `[database]\nurl = "${system.url}"\n\n[message_queue]\ntype = "postgres"\n`);
const cgroup = limitMb === undefined ? undefined : memoryCgroup(limitMb);
const nodeFlags = (flags['node-flags'] ?? '').split(' ').filter(Boolean);
const args = ['--trace-gc', ...nodeFlags, path.join(REPO_ROOT, 'dist/cli/bin/scheduler-dispatcher.js'), '--config', config];
// in the cgroup before node starts, so V8 sizes its heap from the limit as it would in a container
const child = cgroup
  ? spawn('sh', ['-c', `echo $$ > '${cgroup.dir}/cgroup.procs' && exec "$0" "$@"`, process.execPath, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, LOG_LEVEL: 'warn' } })
  : spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, LOG_LEVEL: 'warn' } });
const collections = { counting: false, scavenges: 0, markCompacts: 0, pauseMs: 0 };
let pending = '';
child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
  const lines = (pending + chunk).split('\n');
  pending = lines.pop() ?? '';
  for (const line of lines) {
    const gc = /: (Scavenge|Mark-Compact)\b.*?MB, (?:pooled: [\d.]+ MB, )?([\d.]+) \/ [\d.]+ ms/.exec(line);
    if (!gc) {
      if (line.trim()) process.stdout.write(`dispatcher: ${line}\n`);
      continue;
    }
    if (!collections.counting) continue;
    if (gc[1] === 'Scavenge') collections.scavenges += 1;
    else collections.markCompacts += 1;
    collections.pauseMs += Number(gc[2]);
  }
});
const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
const pid = child.pid as number;

await new Promise((resolve) => setTimeout(resolve, WARM_UP_MS));
if (child.exitCode !== null) throw new Error(`the dispatcher exited with ${child.exitCode} during the warm-up`);
const loaded = procMemoryMb(pid);
windowFrom = Date.now();
collections.counting = true;
const cpuBefore = procCpuMs(pid);
await new Promise((resolve) => setTimeout(resolve, seconds * 1000 - WARM_UP_MS));
windowTo = Date.now();
const windowMs = windowTo - windowFrom;
const cpuMs = procCpuMs(pid) - cpuBefore;
const end = procMemoryMb(pid);
// fires of the window that start after it still count (their lag is measured): let them start
await new Promise((resolve) => setTimeout(resolve, 3000));
child.kill('SIGTERM');
await exited;
cgroup?.remove();
await system.teardown();
fs.rmSync(work, { recursive: true, force: true });

const lag = latencies(lags);
const fires = Math.max(1, lags.length);
const figures: Array<[string, string | number]> = [
  ['schedules', schedules],
  ['memory limit', limitMb === undefined ? 'none' : `${limitMb} MB (cgroup)`],
  ['node flags of the dispatcher', nodeFlags.length > 0 ? nodeFlags.join(' ') : 'none'],
  ['observed', `${Math.round(windowMs / 1000)} s after a ${WARM_UP_MS / 1000} s warm-up`],
  ['dispatcher RSS after the warm-up, MB', loaded.rssMb],
  ['dispatcher RSS peak (VmHWM), MB', end.peakMb],
  ['dispatcher RSS at the end, MB', end.rssMb],
  ['fires per second (due per second)', `${Math.round(fires / (windowMs / 1000))} (${Math.round(schedules / 60)})`],
  ['dispatcher CPU per fire, us', Math.round((cpuMs * 1000) / fires)],
  ['dispatcher CPU, % of one core', Math.round((100 * cpuMs) / windowMs)],
  ['full collections (Mark-Compact) per minute', Math.round((collections.markCompacts * 60_000) / windowMs)],
  ['scavenges per minute', Math.round((collections.scavenges * 60_000) / windowMs)],
  ['GC pause, ms per second', Math.round((collections.pauseMs / (windowMs / 1000)) * 10) / 10],
  ['lag p50 / p99, ms (the worker in the bench process)', `${Math.round(lag.p50_ms)} / ${Math.round(lag.p99_ms)}`],
];
console.log('| dispatcher-memory | |\n|---|---:|');
for (const [name, value] of figures) console.log(`| ${name} | ${value} |`);
