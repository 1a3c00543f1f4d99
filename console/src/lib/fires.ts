import { Cron } from 'croner';

const EVERY = /^@every\s+(\d+)(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Upcoming fires of a schedule between two instants, at most `max` (for the timeline: the task page
 * shows the server's own computation, GET /api/tasks/{id}/next-fires).
 */
export function firesBetween(schedule: string, timeZone: string, fromMs: number, toMs: number, max = 200): number[] {
  const every = EVERY.exec(schedule.trim());
  const out: number[] = [];
  if (every) {
    const step = Number(every[1]) * (UNIT_MS[every[2] as string] ?? 0);
    if (step <= 0) return out;
    for (let at = Math.ceil(fromMs / step) * step; at <= toMs && out.length < max; at += step) out.push(at);
    return out;
  }
  try {
    const cron = new Cron(schedule, { timezone: timeZone, paused: true });
    let cursor = new Date(fromMs);
    while (out.length < max) {
      const next = cron.nextRun(cursor);
      if (!next || next.getTime() > toMs) break;
      out.push(next.getTime());
      cursor = next;
    }
  } catch {
    // a schedule croner cannot read (the server's parser is the authority): no projected fires
  }
  return out;
}
