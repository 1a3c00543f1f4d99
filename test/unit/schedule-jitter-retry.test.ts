import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jitterMs, retryDelayMs } from '../../core/schedule/index.ts';

test('jitter is deterministic per task and scheduled time', () => {
  const t = Date.UTC(2026, 0, 1);
  assert.equal(jitterMs('task-a', t, 30), jitterMs('task-a', t, 30));
  const values = new Set<number>();
  for (let i = 0; i < 1000; i++) values.add(jitterMs(`task-${i}`, t, 30));
  assert.ok(values.size > 900, 'different tasks spread out');
  const overTime = new Set<number>();
  for (let i = 0; i < 1000; i++) overTime.add(jitterMs('task-a', t + i * 60_000, 30));
  assert.ok(overTime.size > 900, 'one task spreads over its fires');
});

test('jitter stays within 0..jitterSeconds*1000', () => {
  let min = Number.POSITIVE_INFINITY;
  let max = 0;
  for (let i = 0; i < 20_000; i++) {
    const j = jitterMs(`t${i % 97}`, i * 1000, 2);
    assert.ok(Number.isInteger(j) && j >= 0 && j <= 2000, String(j));
    min = Math.min(min, j);
    max = Math.max(max, j);
  }
  assert.ok(min < 50 && max > 1950, `covers the range: ${min}..${max}`);
  assert.equal(jitterMs('x', 0, 0), 0);
  assert.equal(jitterMs('x', 0, -5), 0);
});

test('retry delays grow exponentially and are capped', () => {
  const backoff = { initialSeconds: 10, factor: 2, maxSeconds: 3600, jitter: 0 };
  assert.deepEqual([1, 2, 3, 4].map((n) => retryDelayMs(backoff, n)), [10_000, 20_000, 40_000, 80_000]);
  assert.equal(retryDelayMs(backoff, 9), 2_560_000);
  assert.equal(retryDelayMs(backoff, 10), 3_600_000);
  assert.equal(retryDelayMs(backoff, 10_000), 3_600_000);
  assert.equal(retryDelayMs({ ...backoff, factor: 1 }, 5), 10_000);
});

test('retry jitter spreads +/- the fraction and never goes negative', () => {
  const backoff = { initialSeconds: 10, factor: 2, maxSeconds: 3600, jitter: 0.1 };
  assert.equal(retryDelayMs(backoff, 1, () => 0), 9_000);
  assert.equal(retryDelayMs(backoff, 1, () => 0.5), 10_000);
  assert.equal(retryDelayMs(backoff, 1, () => 1), 11_000);
  assert.equal(retryDelayMs(backoff, 10, () => 1), 3_960_000);
  assert.equal(retryDelayMs({ ...backoff, jitter: 1.5 }, 1, () => 0), 0);
  for (let i = 0; i < 1000; i++) {
    const d = retryDelayMs(backoff, 2);
    assert.ok(d >= 18_000 && d <= 22_000);
  }
});
