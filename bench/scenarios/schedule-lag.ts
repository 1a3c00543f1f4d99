/**
 * Scenario 3: recurring schedules, lag from the intended fire time to the job's code starting, and the
 * fires missed or run twice. The first period is warm-up; fires intended inside the window are counted.
 */
import { latencies } from '../lib/stats.ts';
import { HourglassSystem } from '../systems/hourglass.ts';
import type { BenchSystem } from '../systems/types.ts';
import type { ScenarioOptions } from './options.ts';
import { CONCURRENCY } from './throughput.ts';

export interface LagShape {
  schedules: number;
  everyMs: number;
  durationMs: number;
}

/** the two shapes of the issue: 200 every second for 30 s, 10,000 every 10 s for a minute */
export function lagShapes(quick: boolean): LagShape[] {
  return quick
    ? [
        { schedules: 20, everyMs: 1000, durationMs: 4000 },
        { schedules: 200, everyMs: 2000, durationMs: 6000 },
      ]
    : [
        { schedules: 200, everyMs: 1000, durationMs: 30_000 },
        { schedules: 10_000, everyMs: 10_000, durationMs: 60_000 },
      ];
}

export interface Fire {
  key: string;
  schedule: string;
  intendedMs: number;
  startedMs: number;
}

export async function scheduleLag(system: BenchSystem, options: ScenarioOptions & { shape: LagShape }): Promise<Record<string, number>> {
  const { schedules, everyMs, durationMs } = options.shape;
  if (!system.schedule) throw new Error(`${system.name} has no schedules of ${everyMs} ms`);
  const fires: Fire[] = [];
  await system.startWorker(CONCURRENCY, (key, intendedMs) => {
    if (intendedMs === undefined) return;
    fires.push({ key, schedule: key.slice(0, key.lastIndexOf('@')), intendedMs, startedMs: Date.now() });
  });
  await system.schedule(schedules, everyMs);
  const from = Date.now() + everyMs;
  const to = from + durationMs;
  await new Promise((resolve) => setTimeout(resolve, to - Date.now() + Math.min(5000, everyMs)));
  const metrics = summarise(fires, { from, to, everyMs, schedules });
  if (system instanceof HourglassSystem) {
    // the dispatcher's own share: intended time to the run durable and queued
    const fire = latencies(await system.fireLags(from, to));
    metrics.queued_p50_ms = Math.max(0.01, fire.p50_ms);
    metrics.queued_p99_ms = Math.max(0.01, fire.p99_ms);
  }
  return metrics;
}

/** Lag of the fires intended in [from, to), and per schedule the slots missing or run twice. */
export function summarise(fires: Fire[], window: { from: number; to: number; everyMs: number; schedules: number }): Record<string, number> {
  const inWindow = fires.filter((f) => f.intendedMs >= window.from && f.intendedMs < window.to);
  const bySchedule = new Map<string, Map<number, number>>();
  for (const fire of inWindow) {
    const slots = bySchedule.get(fire.schedule) ?? new Map<number, number>();
    slots.set(fire.intendedMs, (slots.get(fire.intendedMs) ?? 0) + 1);
    bySchedule.set(fire.schedule, slots);
  }
  const expectedEach = Math.floor((window.to - window.from) / window.everyMs);
  let missed = Math.max(0, window.schedules - bySchedule.size) * expectedEach;
  let duplicates = 0;
  for (const slots of bySchedule.values()) {
    const times = [...slots.keys()].sort((a, b) => a - b);
    const span = Math.round(((times[times.length - 1] as number) - (times[0] as number)) / window.everyMs) + 1;
    // slots cut off at either edge of the window count as missed too
    missed += Math.max(span, expectedEach) - times.length;
    for (const n of slots.values()) duplicates += n - 1;
  }
  const lag = latencies(inWindow.map((f) => f.startedMs - f.intendedMs));
  return {
    lag_p50_ms: lag.p50_ms,
    lag_p99_ms: lag.p99_ms,
    lag_max_ms: lag.max_ms,
    fires: inWindow.length,
    missed,
    duplicates,
  };
}
