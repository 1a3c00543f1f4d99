/** A binary min-heap of (time, key). Stale entries are skipped by the caller (lazy deletion). */
export class TimerHeap<K> {
  private readonly times: number[] = [];
  private readonly keys: K[] = [];

  get size(): number {
    return this.times.length;
  }

  peekTime(): number | undefined {
    return this.times[0];
  }

  push(time: number, key: K): void {
    this.times.push(time);
    this.keys.push(key);
    let i = this.times.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((this.times[parent] as number) <= time) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  /** removes and returns every entry due at or before `time` */
  popDue(time: number, max = Infinity): Array<{ time: number; key: K }> {
    const due: Array<{ time: number; key: K }> = [];
    while (this.times.length > 0 && (this.times[0] as number) <= time && due.length < max) {
      due.push({ time: this.times[0] as number, key: this.keys[0] as K });
      this.removeTop();
    }
    return due;
  }

  private removeTop(): void {
    const lastTime = this.times.pop() as number;
    const lastKey = this.keys.pop() as K;
    if (this.times.length === 0) return;
    this.times[0] = lastTime;
    this.keys[0] = lastKey;
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

  private swap(a: number, b: number): void {
    [this.times[a], this.times[b]] = [this.times[b] as number, this.times[a] as number];
    [this.keys[a], this.keys[b]] = [this.keys[b] as K, this.keys[a] as K];
  }
}
