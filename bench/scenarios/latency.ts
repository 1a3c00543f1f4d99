/**
 * Scenario 2: triggers at a steady rate (open loop: one every 5 ms whether or not the previous one
 * returned), from the trigger call to the job's code starting. Each trigger is durable before it returns.
 *
 * The warm-up runs at the same rate, open loop, for one second, and is not measured. A warm-up of
 * triggers one after the other left every client's connection pool at one or two connections: the first
 * overlapping calls of the measurement then opened the rest (Hourglass: 8 Postgres connections within
 * 200 ms, each a new backend loading its caches), and those calls, up to 300 ms, made most of the p99.
 * That is the start of a process, not the steady rate this scenario measures.
 */
import { latencies } from '../lib/stats.ts';
import type { BenchSystem } from '../systems/types.ts';
import type { ScenarioOptions } from './options.ts';
import { CONCURRENCY } from './throughput.ts';

const RATE_PER_S = 200;

export async function latency(system: BenchSystem, options: ScenarioOptions): Promise<Record<string, number>> {
  const count = options.quick ? 50 : 1000;
  const warmup = options.quick ? 20 : RATE_PER_S;
  const started = new Map<string, number>();
  await system.startWorker(CONCURRENCY, (key) => {
    if (!started.has(key)) started.set(key, performance.now());
  });
  // each key is an instant, unique per trigger (Hourglass uses it as the run's slot)
  const base = Date.UTC(2002, 0, 1);
  const keyOf = (i: number) => new Date(base + i).toISOString();
  await triggerAtRate(system, Array.from({ length: warmup }, (_, i) => keyOf(i)));
  await system.waitCompleted(warmup, 30_000);
  const t0 = performance.now();
  const called = await triggerAtRate(system, Array.from({ length: count }, (_, i) => keyOf(warmup + i)));
  await system.waitCompleted(warmup + count, 60_000);
  const samples: number[] = [];
  for (const [key, at] of called) {
    const start = started.get(key);
    if (start === undefined) throw new Error(`${system.name}: trigger ${key} never started`);
    samples.push(start - at);
  }
  return { ...latencies(samples), achieved_per_s: Math.round((count / (performance.now() - t0)) * 1000) };
}

/** Triggers each key at RATE_PER_S, open loop; resolves when every call has returned, with the instant of each call. */
async function triggerAtRate(system: BenchSystem, keys: string[]): Promise<Map<string, number>> {
  const called = new Map<string, number>();
  const pending: Promise<void>[] = [];
  const t0 = performance.now();
  for (const [i, key] of keys.entries()) {
    const due = t0 + (i * 1000) / RATE_PER_S;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    called.set(key, performance.now());
    pending.push(system.trigger(key));
  }
  await Promise.all(pending);
  return called;
}
