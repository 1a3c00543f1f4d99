/**
 * Scenario 2: triggers at a steady rate (open loop: one every 5 ms whether or not the previous one
 * returned), from the trigger call to the job's code starting. Each trigger is durable before it returns.
 */
import { latencies } from '../lib/stats.ts';
import type { BenchSystem } from '../systems/types.ts';
import type { ScenarioOptions } from './options.ts';
import { CONCURRENCY } from './throughput.ts';

const RATE_PER_S = 200;
const WARMUP = 20;

export async function latency(system: BenchSystem, options: ScenarioOptions): Promise<Record<string, number>> {
  const count = options.quick ? 50 : 1000;
  const started = new Map<string, number>();
  await system.startWorker(CONCURRENCY, (key) => {
    if (!started.has(key)) started.set(key, performance.now());
  });
  // each key is an instant, unique per trigger (Hourglass uses it as the run's slot)
  const base = Date.UTC(2002, 0, 1);
  const keyOf = (i: number) => new Date(base + i).toISOString();
  for (let i = 0; i < WARMUP; i++) await system.trigger(keyOf(i));
  await system.waitCompleted(WARMUP, 30_000);
  const called = new Map<string, number>();
  const pending: Promise<void>[] = [];
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const due = t0 + (i * 1000) / RATE_PER_S;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    const key = keyOf(WARMUP + i);
    called.set(key, performance.now());
    pending.push(system.trigger(key));
  }
  await Promise.all(pending);
  await system.waitCompleted(WARMUP + count, 60_000);
  const samples: number[] = [];
  for (const [key, at] of called) {
    const start = started.get(key);
    if (start === undefined) throw new Error(`${system.name}: trigger ${key} never started`);
    samples.push(start - at);
  }
  return { ...latencies(samples), achieved_per_s: Math.round((count / (performance.now() - t0)) * 1000) };
}
