/**
 * Scenario 4: 100,000 schedules in one dispatcher, spread over the seconds of a minute (`S * * * * *`,
 * so ~1,667 fire each second): the time to load them, the process's RSS, the heap each schedule costs, and
 * the lag and the CPU while they fire.
 */
import { postgresCpuMs, postgresDelta, processCpuMs } from '../lib/cpu.ts';
import { latencies } from '../lib/stats.ts';
import { HourglassSystem } from '../systems/hourglass.ts';
import type { BenchSystem } from '../systems/types.ts';
import type { ScenarioOptions } from './options.ts';
import { CONCURRENCY } from './throughput.ts';

const mb = (bytes: number) => Math.round(bytes / 2 ** 20);

/** heap in use after a full collection (the bench runs with --expose-gc; without it, whatever is live and not yet collected) */
function heapUsed(): number {
  globalThis.gc?.();
  return process.memoryUsage().heapUsed;
}

export async function scale(system: BenchSystem, options: ScenarioOptions): Promise<Record<string, number>> {
  if (!(system instanceof HourglassSystem)) throw new Error('scale: only Hourglass loads schedules into one dispatcher');
  const count = options.quick ? 2000 : 100_000;
  const observeMs = options.quick ? 4000 : 20_000;
  const lags: number[] = [];
  let from = Infinity;
  let to = Infinity;
  await system.startWorker(CONCURRENCY, (_key, intendedMs) => {
    if (intendedMs !== undefined && intendedMs >= from && intendedMs < to) lags.push(Date.now() - intendedMs);
  });
  await system.insertScheduledTasks(count, (i) => `${i % 60} * * * * *`);
  const heapBefore = heapUsed();
  const before = process.memoryUsage().rss;
  const { loadMs } = await system.startDispatcher();
  const heapLoaded = heapUsed();
  const loaded = process.memoryUsage().rss;
  // the first seconds catch up with whatever came due while loading: lag is measured after them
  from = Date.now() + 2000;
  to = from + observeMs;
  let peak = loaded;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 250);
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const pgBefore = system.database ? await postgresCpuMs(system.database) : undefined;
  const cpuBefore = processCpuMs();
  // a fire of the window that starts up to 2 s after it still counts: later ones show as fires_per_s below due_per_s
  await new Promise((resolve) => setTimeout(resolve, observeMs + 2000));
  const cpuMs = processCpuMs() - cpuBefore;
  const pgMs = system.database && pgBefore ? postgresDelta(pgBefore, await postgresCpuMs(system.database)) : undefined;
  clearInterval(sampler);
  const lag = latencies(lags);
  const fires = Math.max(1, lags.length);
  const metrics: Record<string, number> = {
    load_s: Math.round(loadMs / 10) / 100,
    rss_loaded_mb: mb(loaded),
    rss_peak_mb: mb(peak),
    dispatcher_mb: Math.max(1, mb(loaded - before)),
    bytes_per_schedule: Math.round((heapLoaded - heapBefore) / count),
    lag_p50_ms: lag.p50_ms,
    lag_p99_ms: lag.p99_ms,
    fires_per_s: Math.round(lags.length / (observeMs / 1000)),
    due_per_s: Math.round(count / 60),
    client_cpu_us_per_fire: Math.round((cpuMs * 1000) / fires),
  };
  if (pgMs !== undefined) metrics.postgres_cpu_us_per_fire = Math.round((pgMs * 1000) / fires);
  return metrics;
}
