/**
 * Scenario 1b: `throughput` spread out. The same no-op jobs submitted in bulk, but of 1,000 tasks (job
 * names) round-robin over 10 pools (queues), executed by 4 workers of concurrency 50 covering every pool,
 * so that batching which only helps one hot task or one queue does not flatter the figure. What each
 * system gets for "4 workers over 10 pools" is in its startSpreadWorkers (and printed with its config).
 */
import { postgresCpuMs, postgresDelta, processCpuMs } from '../lib/cpu.ts';
import { HourglassSystem } from '../systems/hourglass.ts';
import type { BenchSystem, Spread } from '../systems/types.ts';
import type { ScenarioOptions } from './options.ts';
import { CONCURRENCY, throughputCounts } from './throughput.ts';

export const SPREAD: Spread = { tasks: 1000, pools: 10 };
export const SPREAD_WORKERS = 4;

const rate = (count: number, ms: number) => Math.round((count / ms) * 1000);

export function spreadCounts(quick: boolean): { jobs: number; tasks: number; pools: number; workers: number } {
  // quick: still every task and pool, one run each
  return { jobs: quick ? 1000 : throughputCounts(false).jobs, ...SPREAD, workers: SPREAD_WORKERS };
}

export async function throughputSpread(system: BenchSystem, options: ScenarioOptions): Promise<Record<string, number>> {
  const { jobs } = spreadCounts(options.quick);
  await system.prepareSpread(SPREAD);
  const pgBefore = system.database ? await postgresCpuMs(system.database) : undefined;
  const cpuBefore = processCpuMs();
  const firstSubmit = performance.now();
  await system.submitSpread(jobs);
  const submitted = performance.now();
  await system.startSpreadWorkers(SPREAD_WORKERS, CONCURRENCY);
  await system.waitCompleted(jobs, 600_000);
  const done = performance.now();
  const metrics: Record<string, number> = {
    e2e_per_s: rate(jobs, done - firstSubmit),
    processing_per_s: rate(jobs, done - submitted),
    submit_per_s: rate(jobs, submitted - firstSubmit),
    client_cpu_us_per_job: Math.round(((processCpuMs() - cpuBefore) * 1000) / jobs),
  };
  if (system.database && pgBefore) metrics.postgres_cpu_us_per_job = Math.max(1, Math.round((postgresDelta(pgBefore, await postgresCpuMs(system.database)) * 1000) / jobs));
  if (system instanceof HourglassSystem) {
    const { batches, events, ms } = system.statusWrites;
    metrics.history_events_per_write = Math.round(events / Math.max(1, batches));
    metrics.history_writer_busy_pct = Math.max(1, Math.round((ms / (done - submitted)) * 100));
    const stored = await system.succeededInDatabase();
    if (stored < jobs) throw new Error(`${system.name}: ${stored} succeeded runs in Postgres, expected ${jobs}`);
  }
  return metrics;
}
