import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError } from '../../core/model/errors.ts';
import { compileSchedule, parseEvery, ScheduleError, validateTimeZone } from '../../core/schedule/index.ts';

const REF = Date.UTC(2026, 0, 15, 10, 17, 23); // 2026-01-15T10:17:23Z, a Thursday

function rejects(expression: string, message: RegExp, timeZone = 'UTC'): ScheduleError {
  try {
    compileSchedule(expression, timeZone);
  } catch (error) {
    assert.ok(error instanceof ScheduleError, `expected ScheduleError, got ${String(error)}`);
    assert.ok(error instanceof ValidationError);
    assert.match(error.problems[0]?.message ?? '', message);
    return error;
  }
  assert.fail(`${expression} was accepted`);
}

test('5-field, 6-field, 7-field and macro forms parse', () => {
  assert.equal(compileSchedule('*/5 * * * *', 'UTC').next(REF), Date.UTC(2026, 0, 15, 10, 20));
  assert.equal(compileSchedule('*/10 * * * * *', 'UTC').next(REF), Date.UTC(2026, 0, 15, 10, 17, 30));
  assert.equal(compileSchedule('0 0 0 1 1 * 2030', 'UTC').next(REF), Date.UTC(2030, 0, 1));
  assert.equal(compileSchedule('0 0 0 1 1 * 2030', 'UTC').next(Date.UTC(2030, 0, 1)), undefined);
  assert.equal(compileSchedule('@yearly', 'UTC').next(REF), Date.UTC(2027, 0, 1));
  assert.equal(compileSchedule('@annually', 'UTC').next(REF), Date.UTC(2027, 0, 1));
  assert.equal(compileSchedule('@monthly', 'UTC').next(REF), Date.UTC(2026, 1, 1));
  assert.equal(compileSchedule('@weekly', 'UTC').next(REF), Date.UTC(2026, 0, 18)); // Sunday
  assert.equal(compileSchedule('@daily', 'UTC').next(REF), Date.UTC(2026, 0, 16));
  assert.equal(compileSchedule('@midnight', 'UTC').next(REF), Date.UTC(2026, 0, 16));
  assert.equal(compileSchedule('@hourly', 'UTC').next(REF), Date.UTC(2026, 0, 15, 11));
  assert.equal(compileSchedule('0 9 * JAN-MAR MON-FRI', 'UTC').next(REF), Date.UTC(2026, 0, 16, 9));
  assert.equal(compileSchedule('0 0 L * *', 'UTC').next(REF), Date.UTC(2026, 0, 31));
  assert.equal(compileSchedule('0 0 * * FRI#2', 'UTC').next(REF), Date.UTC(2026, 1, 13));
  const every = compileSchedule('@every 1m30s', 'UTC');
  assert.equal(every.expression, '@every 1m30s');
  assert.equal(every.timeZone, 'UTC');
});

test('compileSchedule defaults to UTC', () => {
  assert.equal(compileSchedule('0 2 * * *').timeZone, 'UTC');
});

test('each bad expression is rejected naming the field', () => {
  const error = rejects('61 * * * *', /^"61 \* \* \* \*": minute field value 61 is out of range 0-59$/);
  assert.equal(error.reason, 'InvalidSchedule');
  assert.equal(error.problems[0]?.path, 'schedule');
  assert.equal(error.message, 'Invalid schedule: schedule: "61 * * * *": minute field value 61 is out of range 0-59');
  rejects('0 24 * * *', /hour field value 24 is out of range 0-23/);
  rejects('0 0 32 * *', /day-of-month field value 32 is out of range 1-31/);
  rejects('0 0 0 * *', /day-of-month field value 0 is out of range 1-31/);
  rejects('0 0 1 13 *', /month field value 13 is out of range 1-12/);
  rejects('0 0 * * 8', /day-of-week field value 8 is out of range 0-7/);
  rejects('60 0 0 * * *', /second field value 60 is out of range 0-59/);
  rejects('*/0 * * * *', /minute field step "\/0" must be a whole number of at least 1/);
  rejects('0 0 * FOO *', /month field "FOO" has unknown word "FOO"/);
  rejects('0 0 * * MON#6', /day-of-week field "MON#6": #6 must be #1 to #5 or #L/);
  rejects('0 0 * * $', /day-of-week field "\$" contains characters/);
  rejects('* * *', /expected 5 fields .* got 3/);
  rejects('0 0 0 * * * 2030 1', /got 8/);
  rejects('0 0 0 1 1 * 0', /year field value 0 is out of range 1-9999/);
  rejects('', /schedule is empty/);
  rejects('@reboot', /@reboot is not supported/);
  rejects('@fortnightly', /unknown macro @fortnightly/);
  rejects('2030-01-01T00:00:00', /expected 5 fields/);
  rejects('5/5 * * * *', /stepping with numeric prefix/); // croner's own check, passed through
  rejects('@every', /@every needs a duration/);
  rejects('@every soon', /@every duration "soon" is not a duration/);
  rejects('@every 500ms', /below the minimum of 1s/);
});

test('unknown time zones are rejected with reason UnknownTimeZone', () => {
  for (const fn of [() => validateTimeZone('Mars/Base'), () => compileSchedule('0 2 * * *', 'Mars/Base'), () => compileSchedule('@every 5s', 'Mars/Base')]) {
    try {
      fn();
      assert.fail('accepted');
    } catch (error) {
      assert.ok(error instanceof ScheduleError);
      assert.equal(error.reason, 'UnknownTimeZone');
      assert.deepEqual(error.problems, [{ path: 'timeZone', message: 'unknown IANA time zone "Mars/Base"' }]);
    }
  }
  assert.throws(() => validateTimeZone(''), (e: unknown) => e instanceof ScheduleError && e.reason === 'UnknownTimeZone');
  validateTimeZone('UTC');
  validateTimeZone('Europe/Berlin');
  validateTimeZone('Australia/Lord_Howe');
});

test('parseEvery', () => {
  assert.equal(parseEvery('@every 30s'), 30_000);
  assert.equal(parseEvery('@every 1s'), 1000);
  assert.equal(parseEvery('@every 1m30s'), 90_000);
  assert.equal(parseEvery('  @every 2h '), 7_200_000);
  assert.equal(parseEvery('0 * * * *'), undefined);
  assert.equal(parseEvery('@daily'), undefined);
  assert.throws(() => parseEvery('@every 0s'), /below the minimum of 1s/);
  assert.throws(() => parseEvery('@every -5s'), ScheduleError);
});
