import { ValidationError } from '../model/errors.ts';

/** Stable reasons an operator can match on (CR condition reason, API error code). */
export type ScheduleErrorReason = 'InvalidSchedule' | 'UnknownTimeZone';

/** A schedule or time zone that cannot be used; `reason` stays stable while messages may improve. */
export class ScheduleError extends ValidationError {
  readonly reason: ScheduleErrorReason;
  constructor(reason: ScheduleErrorReason, message: string) {
    const path = reason === 'UnknownTimeZone' ? 'timeZone' : 'schedule';
    super(reason === 'UnknownTimeZone' ? 'Invalid time zone' : 'Invalid schedule', [{ path, message }]);
    this.name = 'ScheduleError';
    this.reason = reason;
  }
}

export function invalidSchedule(expression: string, detail: string): ScheduleError {
  return new ScheduleError('InvalidSchedule', `${JSON.stringify(expression)}: ${detail}`);
}
