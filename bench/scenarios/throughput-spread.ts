/**
 * Scenario 1b: `throughput` spread out. The same no-op jobs submitted in bulk, but of 1,000 tasks (job
 * names) round-robin over 10 pools (queues), executed by 4 workers of concurrency 50 covering every pool,
 * so that batching which only helps one hot task or one queue does not flatter the figure. What each
 * system gets for "4 workers over 10 pools" is in its startSpreadWorkers (and printed with its config).
 */
import { HourglassSystem } from '../systems/hourglass.ts';
import type { BenchSystem, Spread } from '../systems/types.ts';
import type { ScenarioOptions } from './options.ts';
import { CONCURRENCY, measureJobs, throughputCounts } from './throughput.ts';

export const SPREAD: Spread = { tasks: 1000, pools: 10 };
export const SPREAD_WORKERS = 4;

export function spreadCounts(quick: boolean): { jobs: number; tasks: number; pools: number; workers: number } {
  // quick: still every task and pool, one run each
  return { jobs: quick ? 1000 : throughputCounts(false).jobs, ...SPREAD, workers: SPREAD_WORKERS };
}

export async function throughputSpread(system: BenchSystem, options: ScenarioOptions): Promise<Record<string, number>> {
  const { jobs } = spreadCounts(options.quick);
  await system.prepareSpread(SPREAD);
  const metrics = await measureJobs(system, jobs, () => system.submitSpread(jobs), () => system.startSpreadWorkers(SPREAD_WORKERS, CONCURRENCY));
  if (system instanceof HourglassSystem) {
    const stored = await system.succeededInDatabase();
    if (stored < jobs) throw new Error(`${system.name}: ${stored} succeeded runs in Postgres, expected ${jobs}`);
  }
  return metrics;
}
