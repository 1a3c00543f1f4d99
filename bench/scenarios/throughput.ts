/**
 * Scenario 1: N no-op jobs submitted in bulk, then one worker at concurrency 50 executes them. End to end
 * is first submit to last outcome durable; processing is worker start to last outcome. Hourglass also
 * runs `true` in a shell and a GET against a local HTTP server, to show the cost of real work.
 */
import { postgresCpuMs, postgresDelta, processCpuMs } from '../lib/cpu.ts';
import { HourglassSystem } from '../systems/hourglass.ts';
import type { BenchSystem, JobKind } from '../systems/types.ts';
import type { ScenarioOptions } from './options.ts';

export const CONCURRENCY = 50;

export function throughputCounts(quick: boolean): { jobs: number; realWork: number } {
  return quick ? { jobs: 500, realWork: 20 } : { jobs: 20_000, realWork: 1000 };
}

const rate = (count: number, ms: number) => Math.round((count / ms) * 1000);

/**
 * Submits `jobs` jobs, starts the workers, waits for every outcome: rates, CPU per job (this process's and
 * the Postgres backends' of its database) and, for Hourglass, how busy the history writer was.
 */
export async function measureJobs(system: BenchSystem, jobs: number, submit: () => Promise<void>, startWorkers: () => Promise<void>): Promise<Record<string, number>> {
  const pgBefore = system.database ? await postgresCpuMs(system.database) : undefined;
  const cpuBefore = processCpuMs();
  const firstSubmit = performance.now();
  await submit();
  const submitted = performance.now();
  await startWorkers();
  await system.waitCompleted(jobs, 600_000);
  const done = performance.now();
  const metrics: Record<string, number> = {
    e2e_per_s: rate(jobs, done - firstSubmit),
    processing_per_s: rate(jobs, done - submitted),
    submit_per_s: rate(jobs, submitted - firstSubmit),
    // microseconds of CPU per job: robust when other work shares the machine
    client_cpu_us_per_job: Math.round(((processCpuMs() - cpuBefore) * 1000) / jobs),
  };
  if (system.database && pgBefore) metrics.postgres_cpu_us_per_job = Math.max(1, Math.round((postgresDelta(pgBefore, await postgresCpuMs(system.database)) * 1000) / jobs));
  if (system instanceof HourglassSystem) {
    const { batches, events, ms } = system.statusWrites;
    metrics.history_events_per_write = Math.round(events / Math.max(1, batches));
    // share of the processing time the history writer was busy writing: near 100 means it is the bottleneck
    metrics.history_writer_busy_pct = Math.max(1, Math.round((ms / (done - submitted)) * 100));
  }
  return metrics;
}

/** noopOnly: the no-op jobs alone (the history scenario; BENCH_NOOP_ONLY=1 does the same) */
export async function throughput(system: BenchSystem, options: ScenarioOptions, only: { noopOnly?: boolean } = {}): Promise<Record<string, number>> {
  const { jobs, realWork } = throughputCounts(options.quick);
  const metrics = await measureJobs(system, jobs, () => system.submit(jobs, 'noop'), () => system.startWorker(CONCURRENCY));
  if (system instanceof HourglassSystem) {
    const stored = await system.succeededInDatabase();
    if (stored < jobs) throw new Error(`${system.name}: ${stored} succeeded runs in Postgres, expected ${jobs}`);
  }
  if (process.env.BENCH_NOOP_ONLY === '1' || only.noopOnly) return metrics;
  if (system instanceof HourglassSystem) {
    let completed = jobs;
    for (const kind of ['shell', 'http'] as JobKind[]) {
      const start = performance.now();
      await system.submit(realWork, kind);
      completed += realWork;
      await system.waitCompleted(completed, 300_000);
      metrics[`${kind}_e2e_per_s`] = rate(realWork, performance.now() - start);
    }
  }
  return metrics;
}
