/**
 * A binary min-heap of (time, key, value). Stale entries are skipped by the caller (lazy deletion). Three
 * parallel arrays, no object per entry: with 100,000 schedules the heap holds one entry per task.
 */
export class TimerHeap<K> {
  private readonly times: number[] = [];
  private readonly keys: K[] = [];
  private readonly values: number[] = [];

  get size(): number {
    return this.times.length;
  }

  peekTime(): number | undefined {
    return this.times[0];
  }

  push(time: number, key: K, value = 0): void {
    this.times.push(time);
    this.keys.push(key);
    this.values.push(value);
    let i = this.times.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((this.times[parent] as number) <= time) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  /** removes and returns every entry due at or before `time` */
  popDue(time: number, max = Infinity): Array<{ time: number; key: K; value: number }> {
    const due: Array<{ time: number; key: K; value: number }> = [];
    while (this.times.length > 0 && (this.times[0] as number) <= time && due.length < max) {
      due.push({ time: this.times[0] as number, key: this.keys[0] as K, value: this.values[0] as number });
      this.removeTop();
    }
    return due;
  }

  private removeTop(): void {
    const lastTime = this.times.pop() as number;
    const lastKey = this.keys.pop() as K;
    const lastValue = this.values.pop() as number;
    if (this.times.length === 0) return;
    this.times[0] = lastTime;
    this.keys[0] = lastKey;
    this.values[0] = lastValue;
    let i = 0;
    const n = this.times.length;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < n && (this.times[left] as number) < (this.times[smallest] as number)) smallest = left;
      if (right < n && (this.times[right] as number) < (this.times[smallest] as number)) smallest = right;
      if (smallest === i) return;
      this.swap(i, smallest);
      i = smallest;
    }
  }

  // temporaries, not destructuring: `[x, y] = [y, x]` builds an array per swap, and with 100,000 schedules
  // each fire's re-arm swaps ~17 times (a sixth of the dispatcher's garbage in the scale bench)
  private swap(a: number, b: number): void {
    const time = this.times[a] as number;
    this.times[a] = this.times[b] as number;
    this.times[b] = time;
    const key = this.keys[a] as K;
    this.keys[a] = this.keys[b] as K;
    this.keys[b] = key;
    const value = this.values[a] as number;
    this.values[a] = this.values[b] as number;
    this.values[b] = value;
  }
}
