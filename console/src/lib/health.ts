import { Cron } from 'croner';
import type { Task } from '../api/client.ts';

export type Health = 'ok' | 'late' | 'silent' | 'suspended' | 'manual';

const GRACE_MS = 60_000;
const EVERY = /^@every\s+(\d+)(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** The schedule's period near now: the gap between its next two fires (undefined when unknown). */
export function period(schedule: string, timeZone: string): number | undefined {
  const every = EVERY.exec(schedule.trim());
  if (every) return Number(every[1]) * (UNIT_MS[every[2] as string] ?? 0);
  try {
    const [first, second] = new Cron(schedule, { timezone: timeZone, paused: true }).nextRuns(2);
    return first && second ? second.getTime() - first.getTime() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Late: the last run is older than one period (plus a grace) — fires were missed. Silent: never ran
 * although a fire was due since it was created. A suspended schedule and an on-demand task are told
 * apart from both, so a disabled schedule never looks like a quiet healthy one.
 */
export function taskHealth(task: Task, nowMs: number): Health {
  if (!task.schedule) return 'manual';
  if (task.suspend) return 'suspended';
  const gap = period(task.schedule, task.timeZone);
  if (gap === undefined) return 'ok';
  const last = task.lastRun ? Date.parse(task.lastRun.scheduledTime) : undefined;
  if (last === undefined) return nowMs - Date.parse(task.createdAt) > gap + GRACE_MS ? 'silent' : 'ok';
  return nowMs - last > gap + GRACE_MS ? 'late' : 'ok';
}
