import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseDurationMs } from '../../core/model/duration.ts';
import { compileSchedule, parseEvery, ScheduleError, validateTimeZone } from '../../core/schedule/index.ts';
import { timed, validOrClearError } from './bounded.ts';

const RUNS = Number(process.env.PROPERTY_RUNS ?? 500);
const NOW = Date.UTC(2026, 2, 29, 0, 30); // a DST night in Europe

/** tokens a cron field is made of, valid and not, so that generated expressions are often nearly right */
const cronToken = fc.oneof(
  fc.constantFrom('*', '?', 'L', 'W', 'LW', '5L', '15W', 'MON#2', '6#5', 'JAN', 'dec', 'SUN-SAT', 'MON-FRI', '*/0', '*/61', '-', ',', '/', '#', '0-0'),
  fc.integer({ min: -5, max: 100 }).map(String),
  fc.tuple(fc.integer({ min: -1, max: 70 }), fc.integer({ min: -1, max: 70 })).map(([a, b]) => `${a}-${b}`),
  fc.tuple(fc.constantFrom('*', '0', '1-30'), fc.integer({ min: -1, max: 100 })).map(([a, b]) => `${a}/${b}`),
  fc.array(fc.integer({ min: 0, max: 65 }), { minLength: 1, maxLength: 4 }).map((xs) => xs.join(',')),
  fc.constant('99999999999999999999'),
  fc.string({ maxLength: 4 }),
);
const cronExpression = fc.oneof(
  fc.array(cronToken, { minLength: 1, maxLength: 8 }).map((fields) => fields.join(' ')),
  fc.constantFrom('@daily', '@hourly', '@weekly', '@monthly', '@yearly', '@annually', '@midnight', '@reboot', '@every', '@every 0s', '@every -1s', '@every 1.5s', '@every 1e3s'),
  fc.tuple(fc.constant('@every'), fc.string({ maxLength: 12 })).map(([a, b]) => `${a} ${b}`),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
);
const timeZone = fc.oneof(
  fc.constantFrom('UTC', 'Europe/Berlin', 'Asia/Shanghai', 'America/New_York', 'Australia/Lord_Howe', 'Pacific/Chatham', 'Asia/Kathmandu', 'Etc/GMT+12', 'Etc/GMT-14'),
  fc.constantFrom('', ' ', 'utc', 'Europe/Berlinx', 'Mars/Olympus', '../../etc/passwd', 'GMT+25', '+05:30', 'EST5EDT', 'Z'),
  fc.string({ maxLength: 30 }),
);

describe('schedule, time zone and duration parsers take any input (fast-check)', () => {
  it('compileSchedule: any expression in any zone compiles or throws a ScheduleError naming schedule or timeZone', () => {
    fc.assert(
      fc.property(cronExpression, timeZone, (expression, zone) => {
        const outcome = validOrClearError(`compileSchedule(${JSON.stringify(expression)}, ${JSON.stringify(zone)})`, () => compileSchedule(expression, zone));
        if (!outcome.ok) {
          assert.ok(outcome.error instanceof ScheduleError, `a ${outcome.error.name}, not a ScheduleError`);
          assert.ok(['InvalidSchedule', 'UnknownTimeZone'].includes(outcome.error.reason));
          assert.deepEqual(outcome.error.problems.map((p) => p.path), [outcome.error.reason === 'UnknownTimeZone' ? 'timeZone' : 'schedule']);
          return;
        }
        // a schedule that compiles can be asked for its next fires, in bounded time, moving forward
        let at = NOW;
        for (let i = 0; i < 3; i++) {
          const next = timed(`next() of ${JSON.stringify(expression)} in ${zone}`, () => outcome.value.next(at));
          if (next === undefined) break;
          assert.ok(Number.isInteger(next) && next > at, `${expression} (${zone}): next(${at}) = ${next}`);
          at = next;
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('a schedule that can never fire (February 30th) compiles or is refused, and next() answers at once', () => {
    for (const expression of ['0 0 30 2 *', '0 0 31 4 *', '0 0 0 31 2 *', '0 0 L 2 * 2020', '0 0 29 2 1']) {
      const outcome = validOrClearError(expression, () => compileSchedule(expression, 'UTC'));
      if (outcome.ok) {
        const next = timed(`next() of ${expression}`, () => outcome.value.next(NOW));
        assert.ok(next === undefined || next > NOW);
      }
    }
  });

  it('validateTimeZone: any string is a zone or a ScheduleError on timeZone', () => {
    fc.assert(
      fc.property(timeZone, (zone) => {
        const outcome = validOrClearError(`validateTimeZone(${JSON.stringify(zone)})`, () => validateTimeZone(zone));
        if (!outcome.ok) assert.equal((outcome.error as ScheduleError).reason, 'UnknownTimeZone');
      }),
      { numRuns: RUNS },
    );
  });

  it('parseDurationMs: any text is a whole number of ms or undefined, never a throw', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 60 }), fc.stringMatching(/^(\d{1,30}(\.\d{1,5})?(ms|s|m|h|d)){1,6}$/)), (text) => {
        const ms = timed(`parseDurationMs(${JSON.stringify(text)})`, () => parseDurationMs(text));
        if (ms !== undefined) assert.ok(Number.isSafeInteger(ms) || Number.isFinite(ms), `${text} -> ${ms}`);
      }),
      { numRuns: RUNS },
    );
  });

  it('parseDurationMs adds up what it is given', () => {
    const unit = fc.constantFrom(['ms', 1], ['s', 1000], ['m', 60_000], ['h', 3_600_000], ['d', 86_400_000]) as fc.Arbitrary<[string, number]>;
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 10_000 }), unit), { minLength: 1, maxLength: 5 }), (parts) => {
        const text = parts.map(([n, [u]]) => `${n}${u}`).join('');
        assert.equal(parseDurationMs(text), parts.reduce((sum, [n, [, ms]]) => sum + n * ms, 0));
      }),
      { numRuns: RUNS },
    );
  });

  it('a pathological duration (catastrophic backtracking bait) is answered at once', () => {
    for (const text of ['1'.repeat(50_000) + 'x', '1s'.repeat(20_000) + '!', `${'1.'.repeat(10_000)}s`, '9'.repeat(400) + 'd']) {
      const ms = timed('parseDurationMs(long)', () => parseDurationMs(text));
      assert.ok(ms === undefined || ms >= 0);
      validOrClearError('parseEvery(long)', () => parseEvery(`@every ${text}`));
    }
  });
});
