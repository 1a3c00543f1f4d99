/**
 * Scenario 6: a large catch-up beside a task that fires on time. 150 tasks `@every 1s` with `catchUp: All`
 * (`maxCatchUp` 100: the latest 100 missed fires of each run, the others are recorded missed) come back from a
 * 3-hour outage (their last fire 3 hours ago), while one more task fires every second. Each catch-up task has
 * 10,000 slots to write (planFires examines at most 10,000 per pass): 1.5 million runs, most of them records.
 * Reported: how long the catch-up took, and the on-time task's lag meanwhile, both the dispatcher's share
 * (intended time to the run durable and queued) and to the job starting. The on-time task has priority 10, so
 * the queue serves it before the 15,000 replayed runs; without that it would wait behind them in the queue, which
 * is the queue's order, not the dispatcher's.
 */
import { postgresCpuMs, postgresDelta, processCpuMs } from '../lib/cpu.ts';
import { latencies } from '../lib/stats.ts';
import { HourglassSystem } from '../systems/hourglass.ts';
import type { BenchSystem } from '../systems/types.ts';
import type { ScenarioOptions } from './options.ts';
import { CONCURRENCY } from './throughput.ts';

const ON_TIME = 'sched-on-time-';
const MAX_CATCH_UP = 100;

export function catchUpShape(quick: boolean): { tasks: number; outageMs: number; timeoutMs: number } {
  return quick ? { tasks: 10, outageMs: 600_000, timeoutMs: 60_000 } : { tasks: 150, outageMs: 3 * 3_600_000, timeoutMs: 420_000 };
}

export async function catchUp(system: BenchSystem, options: ScenarioOptions): Promise<Record<string, number>> {
  if (!(system instanceof HourglassSystem)) throw new Error('catch-up: Hourglass only');
  const { tasks, outageMs, timeoutMs } = catchUpShape(options.quick);
  const starts: number[] = [];
  let from = Infinity;
  let to = Infinity;
  await system.startWorker(CONCURRENCY, (key, intendedMs) => {
    if (key.startsWith(ON_TIME) && intendedMs !== undefined && intendedMs >= from && intendedMs < to) starts.push(Date.now() - intendedMs);
  });
  await system.insertScheduledTasks(tasks, () => '@every 1s', { prefix: 'catchup-', spec: { catchUp: 'All', maxCatchUp: MAX_CATCH_UP } });
  await system.insertScheduledTasks(1, () => '* * * * * *', { prefix: ON_TIME, spec: { priority: 10 } });
  const outageEnd = Date.now();
  await system.query(`UPDATE hg_tasks SET last_scheduled_time = $1, schedule_anchor = $2 WHERE name LIKE 'catchup-%'`, [new Date(outageEnd - outageMs), new Date(outageEnd - outageMs - 1000)]);
  const pgBefore = system.database ? await postgresCpuMs(system.database) : undefined;
  const cpuBefore = processCpuMs();
  const started = Date.now();
  // the on-time task's fires from the first whole second after the start
  from = Math.ceil((started + 1) / 1000) * 1000;
  await system.startDispatcher();
  let caughtUp: number | undefined;
  while (caughtUp === undefined && Date.now() - started < timeoutMs) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    const [row] = await system.query<{ behind: number }>(`SELECT count(*)::int AS behind FROM hg_tasks WHERE name LIKE 'catchup-%' AND (last_scheduled_time IS NULL OR last_scheduled_time < $1)`, [new Date(started)]);
    if (row?.behind === 0) caughtUp = Date.now();
  }
  const end = caughtUp ?? Date.now();
  to = Math.max(from + 1000, Math.floor(end / 1000) * 1000);
  const cpuMs = processCpuMs() - cpuBefore;
  const pgMs = system.database && pgBefore ? postgresDelta(pgBefore, await postgresCpuMs(system.database)) : undefined;
  // the on-time runs of the window may still be starting
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const fires = await system.query<{ ms: number | null; status: string }>(
    `SELECT (extract(epoch FROM r.queued_at - r.scheduled_time) * 1000)::float8 AS ms, r.status FROM hg_runs r JOIN hg_tasks t ON t.id = r.task_id
      WHERE t.name LIKE '${ON_TIME}%' AND r.scheduled_time >= $1 AND r.scheduled_time < $2`,
    [new Date(from), new Date(to)],
  );
  const [written] = await system.query<{ n: number }>(`SELECT count(*)::int AS n FROM hg_runs r JOIN hg_tasks t ON t.id = r.task_id WHERE t.name LIKE 'catchup-%'`);
  const queued = fires.filter((f) => f.status !== 'missed' && f.ms !== null).map((f) => Number(f.ms));
  const fireLag = latencies(queued);
  const startLag = latencies(starts);
  const seconds = (end - started) / 1000;
  const metrics: Record<string, number> = {
    catch_up_s: Math.round(seconds * 10) / 10,
    caught_up: caughtUp === undefined ? 0 : 1,
    catch_up_runs: written?.n ?? 0,
    catch_up_runs_per_s: Math.round((written?.n ?? 0) / seconds),
    other_fire_p50_ms: fireLag.p50_ms,
    other_fire_p99_ms: fireLag.p99_ms,
    other_fire_max_ms: fireLag.max_ms,
    other_start_p50_ms: startLag.p50_ms,
    other_start_p99_ms: startLag.p99_ms,
    other_fires: queued.length,
    // a second of the window without a run of the on-time task, or with one recorded missed
    other_missed: Math.max(0, Math.round((to - from) / 1000) - queued.length),
    client_cpu_s: Math.round(cpuMs / 100) / 10,
  };
  if (pgMs !== undefined) metrics.postgres_cpu_s = Math.round(pgMs / 100) / 10;
  return metrics;
}
