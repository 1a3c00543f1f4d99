import type { CompiledSchedule } from './compiled-schedule.ts';
import { parseCron } from './cron-expression.ts';
import { CronSchedule } from './cron-schedule.ts';
import { invalidSchedule } from './errors.ts';
import { parseEvery } from './every.ts';
import { EverySchedule } from './every-schedule.ts';
import { zoneRules } from './time-zone.ts';

/**
 * Parses and validates a schedule for a time zone. Throws ScheduleError with reason
 * InvalidSchedule (path `schedule`) or UnknownTimeZone (path `timeZone`).
 */
export function compileSchedule(expression: string, timeZone = 'UTC'): CompiledSchedule {
  // the zone is validated even for @every, so a typo is reported wherever it appears
  const zone = zoneRules(timeZone);
  if (typeof expression !== 'string' || expression.trim() === '') {
    throw invalidSchedule(String(expression), 'schedule is empty');
  }
  const intervalMs = parseEvery(expression);
  if (intervalMs !== undefined) return new EverySchedule(expression, timeZone, intervalMs);
  return new CronSchedule(expression, timeZone, parseCron(expression), zone);
}
