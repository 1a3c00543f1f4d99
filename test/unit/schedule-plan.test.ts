import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileSchedule, planFires } from '../../core/schedule/index.ts';

const hourly = compileSchedule('0 * * * *', 'UTC');
const at = (h: number, m = 0, s = 0, ms = 0) => Date.UTC(2026, 4, 10, h, m, s, ms);
const base = { schedule: hourly, createdMs: at(0), maxCatchUp: 100 };

test('catchUp None: only the fire whose time has just come runs', () => {
  const onTime = planFires({ ...base, lastFireMs: at(10), nowMs: at(12, 0, 0, 500), catchUp: 'None' });
  assert.deepEqual(onTime, { due: [at(12)], missed: [at(11)], next: at(13) });
  const late = planFires({ ...base, lastFireMs: at(10), nowMs: at(12, 0, 5), catchUp: 'None' });
  assert.deepEqual(late, { due: [], missed: [at(11), at(12)], next: at(13) });
  const exactlyOneSecond = planFires({ ...base, lastFireMs: at(11), nowMs: at(12, 0, 1), catchUp: 'None' });
  assert.deepEqual(exactlyOneSecond.due, [at(12)]);
});

test('catchUp Latest: the latest passed fire runs, older ones are missed', () => {
  const plan = planFires({ ...base, lastFireMs: at(8), nowMs: at(12, 30), catchUp: 'Latest' });
  assert.deepEqual(plan, { due: [at(12)], missed: [at(9), at(10), at(11)], next: at(13) });
  const nothing = planFires({ ...base, lastFireMs: at(12), nowMs: at(12, 30), catchUp: 'Latest' });
  assert.deepEqual(nothing, { due: [], missed: [], next: at(13) });
});

test('catchUp All: the most recent maxCatchUp fires run oldest first', () => {
  const all = planFires({ ...base, lastFireMs: at(8), nowMs: at(12, 30), catchUp: 'All' });
  assert.deepEqual(all, { due: [at(9), at(10), at(11), at(12)], missed: [], next: at(13) });
  const capped = planFires({ ...base, lastFireMs: at(8), nowMs: at(12, 30), catchUp: 'All', maxCatchUp: 2 });
  assert.deepEqual(capped, { due: [at(11), at(12)], missed: [at(9), at(10)], next: at(13) });
  const zero = planFires({ ...base, lastFireMs: at(8), nowMs: at(12, 30), catchUp: 'All', maxCatchUp: 0 });
  assert.deepEqual(zero.due, []);
  assert.equal(zero.missed.length, 4);
});

test('startingDeadlineSeconds: fires later than the deadline are missed', () => {
  const all = planFires({ ...base, lastFireMs: at(8), nowMs: at(12, 30), catchUp: 'All', startingDeadlineSeconds: 1800 });
  assert.deepEqual(all, { due: [at(12)], missed: [at(9), at(10), at(11)], next: at(13) });
  const latest = planFires({ ...base, lastFireMs: at(8), nowMs: at(12, 30), catchUp: 'Latest', startingDeadlineSeconds: 600 });
  assert.deepEqual(latest, { due: [], missed: [at(9), at(10), at(11), at(12)], next: at(13) });
  const wide = planFires({ ...base, lastFireMs: at(8), nowMs: at(12, 30), catchUp: 'All', startingDeadlineSeconds: 7200 });
  assert.deepEqual(wide.due, [at(11), at(12)]);
});

test('a new task counts nothing before its creation as missed', () => {
  const fromCreation = planFires({ ...base, createdMs: at(11), lastFireMs: undefined, nowMs: at(12, 30), catchUp: 'All' });
  assert.deepEqual(fromCreation.due, [at(11), at(12)]);
  const afterCreation = planFires({ ...base, createdMs: at(11, 0, 1), lastFireMs: undefined, nowMs: at(12, 30), catchUp: 'All' });
  assert.deepEqual(afterCreation, { due: [at(12)], missed: [], next: at(13) });
  const notYet = planFires({ ...base, createdMs: at(12, 10), lastFireMs: undefined, nowMs: at(12, 30), catchUp: 'Latest' });
  assert.deepEqual(notYet, { due: [], missed: [], next: at(13) });
});

test('a year of per-second fires is bounded by limit and stays fast', () => {
  const perSecond = compileSchedule('* * * * * *', 'Europe/Berlin');
  const nowMs = at(12, 0, 0, 300);
  const yearAgo = nowMs - 365 * 86_400_000;
  const started = performance.now();
  const latest = planFires({ schedule: perSecond, createdMs: yearAgo, lastFireMs: yearAgo, nowMs, catchUp: 'Latest', maxCatchUp: 5, limit: 1000 });
  assert.deepEqual(latest.due, [at(12)]);
  assert.equal(latest.missed.length, 999);
  assert.equal(latest.missed[0], Math.ceil(yearAgo / 1000) * 1000 + (yearAgo % 1000 === 0 ? 1000 : 0));
  assert.equal(latest.truncated, true);
  assert.equal(latest.next, at(12, 0, 1));

  const all = planFires({ schedule: perSecond, createdMs: yearAgo, lastFireMs: yearAgo, nowMs, catchUp: 'All', maxCatchUp: 5 });
  assert.deepEqual(all.due, [at(11, 59, 56), at(11, 59, 57), at(11, 59, 58), at(11, 59, 59), at(12)]);
  assert.ok(all.missed.length <= 10_000);
  assert.ok(all.missed.every((t, i, a) => i === 0 || (a[i - 1] as number) < t), 'missed is oldest first');
  assert.ok(all.missed.every((t) => t < at(11, 59, 56)));

  const none = planFires({ schedule: perSecond, createdMs: yearAgo, lastFireMs: yearAgo, nowMs: nowMs + 2000, catchUp: 'None', maxCatchUp: 5, limit: 50 });
  assert.deepEqual(none.due, [at(12, 0, 2)]);
  assert.equal(none.missed.length, 49);
  // generous: the point is that a year is not enumerated (that would take seconds)
  assert.ok(performance.now() - started < 5000);
});

test('the bound also holds for a sparse tail after a dense head', () => {
  // every second during hour 3 only: the head fills up inside one hour, the tail is days later
  const s = compileSchedule('* * 3 * * *', 'UTC');
  const plan = planFires({ schedule: s, createdMs: at(0), lastFireMs: at(0), nowMs: at(0) + 3 * 86_400_000, catchUp: 'All', maxCatchUp: 3, limit: 100 });
  const end = at(3, 59, 59) + 2 * 86_400_000;
  assert.deepEqual(plan.due, [end - 2000, end - 1000, end]);
  assert.equal(plan.missed.length, 97);
  assert.equal(plan.truncated, true);
});
