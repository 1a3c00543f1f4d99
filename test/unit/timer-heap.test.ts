import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TimerHeap } from '../../core/dispatch/timer-heap.ts';

/** a small deterministic generator, so a failure names the seed that made it */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('TimerHeap', () => {
  it('hands out every entry once, in time order, up to the time asked for', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const next = random(seed);
      const heap = new TimerHeap<string>();
      const pushed: Array<{ time: number; key: string; value: number }> = [];
      const popped: Array<{ time: number; key: string; value: number }> = [];
      let now = 0;
      for (let step = 0; step < 2000; step++) {
        if (next() < 0.6) {
          // equal times are common (every task due on the same second): ties must survive the swaps too
          const entry = { time: now + Math.floor(next() * 50), key: `k${step}`, value: step };
          pushed.push(entry);
          heap.push(entry.time, entry.key, entry.value);
        } else {
          now += Math.floor(next() * 10);
          const max = 1 + Math.floor(next() * 20);
          const due = heap.popDue(now, max);
          due.forEach((entry, i) => {
            assert.ok(entry.time <= now, `seed ${seed}: ${entry.key} at ${entry.time} handed out at ${now}`);
            if (i > 0) assert.ok(entry.time >= (due[i - 1] as { time: number }).time, `seed ${seed}: ${entry.key} out of order`);
          });
          // nothing due is left behind unless the batch was full
          if (due.length < max) assert.ok((heap.peekTime() ?? Infinity) > now, `seed ${seed}: an entry due at ${heap.peekTime()} left behind at ${now}`);
          popped.push(...due);
        }
      }
      popped.push(...heap.popDue(Infinity));
      assert.equal(heap.size, 0);
      const byKey = (a: { key: string }, b: { key: string }) => a.key.localeCompare(b.key);
      assert.deepEqual([...popped].sort(byKey), [...pushed].sort(byKey), `seed ${seed}: every entry, with its time and value, exactly once`);
    }
  });

  it('pops in time order when nothing is pushed between pops', () => {
    const heap = new TimerHeap<number>();
    const next = random(7);
    const times = Array.from({ length: 5000 }, () => Math.floor(next() * 1000));
    times.forEach((t, i) => heap.push(t, i, i));
    assert.equal(heap.peekTime(), Math.min(...times));
    const out = heap.popDue(Infinity).map((e) => e.time);
    assert.deepEqual(out, [...times].sort((a, b) => a - b));
  });
});
