/**
 * Scenario 4: 100,000 schedules in one dispatcher, spread over the seconds of a minute (`S * * * * *`,
 * so ~1,667 fire each second): the time to load them, the process's RSS, and the lag while they fire.
 */
import { latencies } from '../lib/stats.ts';
import { HourglassSystem } from '../systems/hourglass.ts';
import type { BenchSystem } from '../systems/types.ts';
import type { ScenarioOptions } from './options.ts';
import { CONCURRENCY } from './throughput.ts';

const mb = (bytes: number) => Math.round(bytes / 2 ** 20);

export async function scale(system: BenchSystem, options: ScenarioOptions): Promise<Record<string, number>> {
  if (!(system instanceof HourglassSystem)) throw new Error('scale: only Hourglass loads schedules into one dispatcher');
  const count = options.quick ? 2000 : 100_000;
  const observeMs = options.quick ? 4000 : 20_000;
  const lags: number[] = [];
  let from = Infinity;
  await system.startWorker(CONCURRENCY, (_key, intendedMs) => {
    if (intendedMs !== undefined && intendedMs >= from) lags.push(Date.now() - intendedMs);
  });
  await system.insertScheduledTasks(count, (i) => `${i % 60} * * * * *`);
  globalThis.gc?.();
  const before = process.memoryUsage().rss;
  const { loadMs } = await system.startDispatcher();
  globalThis.gc?.();
  const loaded = process.memoryUsage().rss;
  // the first seconds catch up with whatever came due while loading: lag is measured after them
  from = Date.now() + 2000;
  let peak = loaded;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 250);
  await new Promise((resolve) => setTimeout(resolve, observeMs + 2000));
  clearInterval(sampler);
  const lag = latencies(lags);
  return {
    load_s: Math.round(loadMs / 10) / 100,
    rss_loaded_mb: mb(loaded),
    rss_peak_mb: mb(peak),
    dispatcher_mb: Math.max(1, mb(loaded - before)),
    lag_p50_ms: lag.p50_ms,
    lag_p99_ms: lag.p99_ms,
    fires_per_s: Math.round(lags.length / (observeMs / 1000)),
  };
}
