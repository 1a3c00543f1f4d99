import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileSchedule } from '../../core/schedule/index.ts';
import type { CompiledSchedule } from '../../core/schedule/index.ts';

function runs(schedule: CompiledSchedule, afterMs: number, count: number): string[] {
  const out: string[] = [];
  let t: number | undefined = afterMs;
  for (let i = 0; i < count; i++) {
    t = schedule.next(t as number);
    if (t === undefined) break;
    out.push(new Date(t).toISOString());
  }
  return out;
}

test('next() crosses month and year boundaries', () => {
  const s = compileSchedule('30 23 * * *', 'UTC');
  assert.deepEqual(runs(s, Date.UTC(2026, 11, 30, 23, 30), 3), [
    '2026-12-31T23:30:00.000Z',
    '2027-01-01T23:30:00.000Z',
    '2027-01-02T23:30:00.000Z',
  ]);
  assert.deepEqual(runs(compileSchedule('0 0 31 * *', 'UTC'), Date.UTC(2026, 0, 31), 3), [
    '2026-03-31T00:00:00.000Z',
    '2026-05-31T00:00:00.000Z',
    '2026-07-31T00:00:00.000Z',
  ]);
});

test('next() is strictly after and works from any millisecond', () => {
  const s = compileSchedule('0 * * * *', 'UTC');
  assert.equal(s.next(Date.UTC(2026, 0, 1, 5)), Date.UTC(2026, 0, 1, 6));
  assert.equal(s.next(Date.UTC(2026, 0, 1, 5) - 1), Date.UTC(2026, 0, 1, 5));
  assert.equal(s.next(Date.UTC(2026, 0, 1, 5, 0, 0, 1)), Date.UTC(2026, 0, 1, 6));
  assert.equal(s.next(Number.NaN), undefined);
});

test('leap day 0 0 29 2 * fires only in leap years', () => {
  assert.deepEqual(runs(compileSchedule('0 0 29 2 *', 'UTC'), Date.UTC(2026, 0, 1), 3), [
    '2028-02-29T00:00:00.000Z',
    '2032-02-29T00:00:00.000Z',
    '2036-02-29T00:00:00.000Z',
  ]);
  // in a zone too: midnight Berlin time is 23:00Z the day before
  assert.equal(compileSchedule('0 0 29 2 *', 'Europe/Berlin').next(Date.UTC(2026, 0, 1)), Date.UTC(2028, 1, 28, 23));
});

test('a schedule that can never fire returns undefined', () => {
  assert.equal(compileSchedule('0 0 30 2 *', 'UTC').next(Date.UTC(2026, 0, 1)), undefined);
});

test('6-field seconds', () => {
  const s = compileSchedule('15,45 * * * * *', 'UTC');
  assert.deepEqual(runs(s, Date.UTC(2026, 0, 1, 0, 0, 50), 3), [
    '2026-01-01T00:01:15.000Z',
    '2026-01-01T00:01:45.000Z',
    '2026-01-01T00:02:15.000Z',
  ]);
  assert.deepEqual(runs(compileSchedule('59 59 23 31 12 *', 'UTC'), Date.UTC(2026, 0, 1), 1), ['2026-12-31T23:59:59.000Z']);
});

test('@every slots are aligned to the Unix epoch', () => {
  const s = compileSchedule('@every 7s', 'Asia/Shanghai');
  const after = Date.UTC(2026, 0, 1, 0, 0, 0, 123);
  const first = s.next(after) as number;
  assert.equal(first % 7000, 0);
  assert.ok(first > after && first - after <= 7000);
  assert.equal(s.next(first), first + 7000);
  assert.equal(compileSchedule('@every 1m30s', 'UTC').next(0), 90_000);
  assert.equal(compileSchedule('@every 1m30s', 'UTC').next(89_999), 90_000);
  assert.equal(compileSchedule('@every 1h', 'Europe/Berlin').next(Date.UTC(2026, 2, 29, 0, 30)), Date.UTC(2026, 2, 29, 1));
});

test('time zones shift the wall clock', () => {
  // 2026-07-01 is summer time in Berlin (UTC+2)
  const noonJune30 = Date.UTC(2026, 5, 30, 12);
  assert.equal(compileSchedule('0 2 * * *', 'Europe/Berlin').next(noonJune30), Date.UTC(2026, 6, 1, 0));
  assert.equal(compileSchedule('0 2 * * *', 'Asia/Shanghai').next(noonJune30), Date.UTC(2026, 5, 30, 18));
  assert.equal(compileSchedule('0 2 * * *', 'Asia/Kolkata').next(noonJune30), Date.UTC(2026, 5, 30, 20, 30));
});

test('100,000 next() calls on a per-5-second schedule complete', () => {
  const s = compileSchedule('*/5 * * * * *', 'America/New_York');
  let t: number | undefined = Date.UTC(2026, 0, 1);
  for (let i = 0; i < 100_000; i++) t = s.next(t as number);
  assert.equal(t, Date.UTC(2026, 0, 1) + 500_000_000);
});
