import type { CompiledSchedule } from './compiled-schedule.ts';

/**
 * `@every` fires on multiples of the interval since the Unix epoch, so every replica computes the
 * same slots whatever its start time; the time zone plays no part.
 */
export class EverySchedule implements CompiledSchedule {
  readonly expression: string;
  readonly timeZone: string;
  readonly intervalMs: number;

  constructor(expression: string, timeZone: string, intervalMs: number) {
    this.expression = expression;
    this.timeZone = timeZone;
    this.intervalMs = intervalMs;
  }

  next(afterMs: number): number | undefined {
    if (!Number.isFinite(afterMs)) return undefined;
    return (Math.floor(afterMs / this.intervalMs) + 1) * this.intervalMs;
  }
}
