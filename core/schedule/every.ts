import { parseDurationMs } from '../model/duration.ts';
import { invalidSchedule } from './errors.ts';

const EVERY_RE = /^@every(?:\s+(.*))?$/i;
const MIN_INTERVAL_MS = 1000;

/**
 * Interval of an `@every <duration>` expression in ms; undefined when the expression is not an
 * `@every` form at all. Sub-second intervals are refused: the dispatcher works in whole seconds.
 */
export function parseEvery(expression: string): number | undefined {
  const match = EVERY_RE.exec(expression.trim());
  if (!match) return undefined;
  const text = (match[1] ?? '').trim();
  if (text === '') throw invalidSchedule(expression, '@every needs a duration, e.g. "@every 30s"');
  const ms = parseDurationMs(text);
  if (ms === undefined) {
    throw invalidSchedule(expression, `@every duration "${text}" is not a duration (use e.g. 30s, 1m30s, 2h, 1d)`);
  }
  if (ms < MIN_INTERVAL_MS) throw invalidSchedule(expression, `@every interval ${text} is below the minimum of 1s`);
  return ms;
}
