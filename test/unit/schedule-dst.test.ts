import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileSchedule } from '../../core/schedule/index.ts';

/** every fire in [fromMs, toMs), as ISO strings */
function firesBetween(expression: string, timeZone: string, fromMs: number, toMs: number): string[] {
  const s = compileSchedule(expression, timeZone);
  const out: string[] = [];
  for (let t = s.next(fromMs - 1); t !== undefined && t < toMs; t = s.next(t)) out.push(new Date(t).toISOString());
  return out;
}

const iso = (ms: number) => new Date(ms).toISOString();

// America/New_York 2026: spring forward 2026-03-08 02:00 EST (07:00Z) -> 03:00 EDT;
// fall back 2026-11-01 02:00 EDT (06:00Z) -> 01:00 EST.
test('New York spring forward: fixed 02:30 fires once, at 03:00 EDT', () => {
  assert.deepEqual(firesBetween('30 2 * * *', 'America/New_York', Date.UTC(2026, 2, 7), Date.UTC(2026, 2, 10)), [
    '2026-03-07T07:30:00.000Z', // 02:30 EST
    '2026-03-08T07:00:00.000Z', // 02:30 skipped: fires at 03:00 EDT, the first instant after the gap
    '2026-03-09T06:30:00.000Z', // 02:30 EDT
  ]);
  // every minute of a fixed hour inside the gap collapses into one fire at the gap's end
  assert.deepEqual(firesBetween('*/20 2 * * *', 'America/New_York', Date.UTC(2026, 2, 8), Date.UTC(2026, 2, 8, 12)), [
    '2026-03-08T07:00:00.000Z',
  ]);
  // just before the gap the next fire is the gap's end; from the gap's end it is the next day
  const s = compileSchedule('30 2 * * *', 'America/New_York');
  assert.equal(s.next(Date.UTC(2026, 2, 8, 6, 59, 59)), Date.UTC(2026, 2, 8, 7));
  assert.equal(s.next(Date.UTC(2026, 2, 8, 7)), Date.UTC(2026, 2, 9, 6, 30));
});

test('New York fall back: fixed 01:30 fires at the first occurrence only', () => {
  assert.deepEqual(firesBetween('30 1 * * *', 'America/New_York', Date.UTC(2026, 9, 31), Date.UTC(2026, 10, 3)), [
    '2026-10-31T05:30:00.000Z', // 01:30 EDT
    '2026-11-01T05:30:00.000Z', // first 01:30 (EDT); the second (06:30Z, EST) does not fire
    '2026-11-02T06:30:00.000Z', // 01:30 EST
  ]);
  const s = compileSchedule('30 1 * * *', 'America/New_York');
  // asked during the repeated hour (01:10 EST, second pass): the fire already happened
  assert.equal(s.next(Date.UTC(2026, 10, 1, 6, 10)), Date.UTC(2026, 10, 2, 6, 30));
  // a fixed hour with every minute fires through the first pass only
  const minutes = firesBetween('* 1 * * *', 'America/New_York', Date.UTC(2026, 10, 1), Date.UTC(2026, 10, 1, 12));
  assert.equal(minutes.length, 60);
  assert.equal(minutes[0], '2026-11-01T05:00:00.000Z');
  assert.equal(minutes[59], '2026-11-01T05:59:00.000Z');
});

test('New York: 0 * * * * fires every real hour, none twice, through both changes', () => {
  // fall back: local 01:00 happens twice and both real hours fire
  assert.deepEqual(firesBetween('0 * * * *', 'America/New_York', Date.UTC(2026, 10, 1, 3, 30), Date.UTC(2026, 10, 1, 8, 30)), [
    '2026-11-01T04:00:00.000Z', // 00:00 EDT
    '2026-11-01T05:00:00.000Z', // 01:00 EDT
    '2026-11-01T06:00:00.000Z', // 01:00 EST
    '2026-11-01T07:00:00.000Z', // 02:00 EST
    '2026-11-01T08:00:00.000Z', // 03:00 EST
  ]);
  // spring forward: local 02:00 does not exist; every real hour still fires exactly once
  assert.deepEqual(firesBetween('0 * * * *', 'America/New_York', Date.UTC(2026, 2, 8, 4, 30), Date.UTC(2026, 2, 8, 9, 30)), [
    '2026-03-08T05:00:00.000Z', // 00:00 EST
    '2026-03-08T06:00:00.000Z', // 01:00 EST
    '2026-03-08T07:00:00.000Z', // 03:00 EDT
    '2026-03-08T08:00:00.000Z', // 04:00 EDT
    '2026-03-08T09:00:00.000Z', // 05:00 EDT
  ]);
  // a step in the hour field follows real time too: 02:30 is skipped, not moved
  assert.deepEqual(firesBetween('30 */2 * * *', 'America/New_York', Date.UTC(2026, 2, 8, 5), Date.UTC(2026, 2, 8, 10)), [
    '2026-03-08T05:30:00.000Z', // 00:30 EST
    '2026-03-08T08:30:00.000Z', // 04:30 EDT
  ]);
  // @hourly follows real time; @daily is fixed-hour
  // over the local day (local midnight to local midnight): 25 real hours, then 23
  assert.equal(firesBetween('@hourly', 'America/New_York', Date.UTC(2026, 10, 1, 4), Date.UTC(2026, 10, 2, 5)).length, 25);
  assert.equal(firesBetween('@hourly', 'America/New_York', Date.UTC(2026, 2, 8, 5), Date.UTC(2026, 2, 9, 4)).length, 23);
  assert.deepEqual(firesBetween('@daily', 'America/New_York', Date.UTC(2026, 10, 1), Date.UTC(2026, 10, 3)), [
    '2026-11-01T04:00:00.000Z',
    '2026-11-02T05:00:00.000Z',
  ]);
});

test('a day has 23/25 real hours of per-minute fires, each once', () => {
  const fall = firesBetween('0 * * * * *', 'America/New_York', Date.UTC(2026, 10, 1, 4), Date.UTC(2026, 10, 2, 5));
  assert.equal(fall.length, 25 * 60);
  assert.equal(new Set(fall).size, fall.length);
  const spring = firesBetween('0 * * * * *', 'America/New_York', Date.UTC(2026, 2, 8, 5), Date.UTC(2026, 2, 9, 4));
  assert.equal(spring.length, 23 * 60);
});

// Europe/Berlin 2026: 2026-03-29 02:00 CET (01:00Z) -> 03:00 CEST; 2026-10-25 03:00 CEST (01:00Z) -> 02:00 CET.
test('Berlin spring forward and fall back', () => {
  assert.deepEqual(firesBetween('30 2 * * *', 'Europe/Berlin', Date.UTC(2026, 2, 28), Date.UTC(2026, 2, 31)), [
    '2026-03-28T01:30:00.000Z', // 02:30 CET
    '2026-03-29T01:00:00.000Z', // skipped 02:30 -> 03:00 CEST
    '2026-03-30T00:30:00.000Z', // 02:30 CEST
  ]);
  assert.deepEqual(firesBetween('30 2 * * *', 'Europe/Berlin', Date.UTC(2026, 9, 24), Date.UTC(2026, 9, 27)), [
    '2026-10-24T00:30:00.000Z', // 02:30 CEST
    '2026-10-25T00:30:00.000Z', // first 02:30 (CEST) only; 01:30Z (CET) does not fire
    '2026-10-26T01:30:00.000Z', // 02:30 CET
  ]);
  assert.deepEqual(firesBetween('0 * * * *', 'Europe/Berlin', Date.UTC(2026, 9, 24, 22, 30), Date.UTC(2026, 9, 25, 3, 30)), [
    '2026-10-24T23:00:00.000Z', // 01:00 CEST
    '2026-10-25T00:00:00.000Z', // 02:00 CEST
    '2026-10-25T01:00:00.000Z', // 02:00 CET
    '2026-10-25T02:00:00.000Z', // 03:00 CET
    '2026-10-25T03:00:00.000Z', // 04:00 CET
  ]);
  assert.deepEqual(firesBetween('0 * * * *', 'Europe/Berlin', Date.UTC(2026, 2, 28, 23, 30), Date.UTC(2026, 2, 29, 3, 30)), [
    '2026-03-29T00:00:00.000Z', // 01:00 CET
    '2026-03-29T01:00:00.000Z', // 03:00 CEST
    '2026-03-29T02:00:00.000Z', // 04:00 CEST
    '2026-03-29T03:00:00.000Z', // 05:00 CEST
  ]);
});

// Australia/Lord_Howe: +10:30 standard, +11:00 summer, a 30-minute change.
// 2026-04-05 02:00 (+11, 15:00Z Apr 4) -> 01:30; 2026-10-04 02:00 (+10:30, 15:30Z Oct 3) -> 02:30.
test('Lord Howe 30-minute DST', () => {
  assert.deepEqual(firesBetween('15 2 * * *', 'Australia/Lord_Howe', Date.UTC(2026, 9, 2), Date.UTC(2026, 9, 5)), [
    '2026-10-02T15:45:00.000Z', // 02:15 +10:30 on Oct 3
    '2026-10-03T15:30:00.000Z', // 02:15 skipped on Oct 4 -> 02:30 +11:00
    '2026-10-04T15:15:00.000Z', // 02:15 +11:00 on Oct 5
  ]);
  assert.deepEqual(firesBetween('45 1 * * *', 'Australia/Lord_Howe', Date.UTC(2026, 3, 3), Date.UTC(2026, 3, 6)), [
    '2026-04-03T14:45:00.000Z', // 01:45 +11:00 on Apr 4
    '2026-04-04T14:45:00.000Z', // first 01:45 (+11:00) on Apr 5; 15:15Z (+10:30) does not fire
    '2026-04-05T15:15:00.000Z', // 01:45 +10:30 on Apr 6
  ]);
  // real time: half past every hour on the fall-back night fires through 01:30-02:00 twice
  assert.deepEqual(firesBetween('30 * * * *', 'Australia/Lord_Howe', Date.UTC(2026, 3, 4, 13), Date.UTC(2026, 3, 4, 17)), [
    '2026-04-04T13:30:00.000Z', // 00:30 +11:00
    '2026-04-04T14:30:00.000Z', // 01:30 +11:00
    '2026-04-04T15:00:00.000Z', // 01:30 +10:30, the repeated half hour
    '2026-04-04T16:00:00.000Z', // 02:30 +10:30
  ]);
});

test('zone tables agree with Intl at many instants', () => {
  const fmt = new Intl.DateTimeFormat('en-US', { timeZone: 'America/New_York', hourCycle: 'h23', hour: 'numeric', minute: 'numeric' });
  const s = compileSchedule('0 * * * *', 'America/New_York');
  let t = Date.UTC(2026, 0, 1);
  for (let i = 0; i < 24 * 400; i++) {
    t = s.next(t) as number;
    assert.match(fmt.format(t), /:00$/, iso(t));
  }
});

test('issue 12 defect 12: `0 2,3 * * *` in New York fires twice on the spring-forward day', () => {
  assert.deepEqual(firesBetween('0 2,3 * * *', 'America/New_York', Date.UTC(2026, 2, 8), Date.UTC(2026, 2, 9)), [
    '2026-03-08T06:59:59.999Z', // 02:00 skipped: fires at the end of the gap, just before the 03:00 fire
    '2026-03-08T07:00:00.000Z', // 03:00 EDT
  ]);
  // the days around it are unchanged
  assert.deepEqual(firesBetween('0 2,3 * * *', 'America/New_York', Date.UTC(2026, 2, 9), Date.UTC(2026, 2, 10)), ['2026-03-09T06:00:00.000Z', '2026-03-09T07:00:00.000Z']);
});
