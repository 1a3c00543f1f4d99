import type { Clock, TimerHandle } from '../../core/clock/index.ts';

interface Timer {
  at: number;
  seq: number;
  owner: string;
  callback: () => void;
  cancelled: boolean;
}

/**
 * One virtual timeline for the whole simulated world. Time moves only when the world is idle: the driver
 * settles every pending promise, then jumps to the earliest timer. Every process gets a Clock view of it,
 * optionally skewed; killing a process drops its timers (a crashed process does nothing more).
 */
export class VirtualTime {
  now: number;
  #seq = 0;
  #heap: Timer[] = [];
  readonly #dead = new Set<string>();
  /** frozen processes (SIGSTOP, a long GC pause, a VM migration): until when, in true time */
  readonly #frozenUntil = new Map<string, number>();
  /** timers fired so far; part of the idle test */
  fired = 0;

  constructor(startMs: number) {
    this.now = startMs;
  }

  schedule(owner: string, delayMs: number, callback: () => void): Timer {
    const at = Math.max(this.now + Math.max(0, Number.isFinite(delayMs) ? delayMs : 0), this.#frozenUntil.get(owner) ?? 0);
    const timer: Timer = { at, seq: this.#seq++, owner, callback, cancelled: this.#halted || this.#dead.has(owner) };
    this.#push(timer);
    return timer;
  }

  readonly #onDeath = new Map<string, Set<() => void>>();

  /** a process died: its timers never fire, and it can set no new ones */
  kill(owner: string): void {
    this.#dead.add(owner);
    for (const timer of this.#heap) if (timer.owner === owner) timer.cancelled = true;
    const told = this.#onDeath.get(owner);
    this.#onDeath.delete(owner);
    for (const tell of told ?? []) tell();
  }

  /** `tell` is called when the process dies (at once if it is dead); the returned function forgets it */
  onDeath(owner: string, tell: () => void): () => void {
    if (this.#dead.has(owner)) {
      tell();
      return () => {};
    }
    const set = this.#onDeath.get(owner) ?? new Set<() => void>();
    set.add(tell);
    this.#onDeath.set(owner, set);
    return () => set.delete(tell);
  }

  /** the world is abandoned (a hung seed): no timer fires any more and none can be set, so nothing runs on */
  halt(): void {
    this.#halted = true;
    this.#heap = [];
  }

  #halted = false;

  isDead(owner: string): boolean {
    return this.#dead.has(owner);
  }

  /**
   * The process stops for `ms`: none of its timers fires meanwhile, and its round trips (sim-db.ts,
   * sim-broker.ts) are answered only once it runs again, so it wakes up acting on what it knew before.
   */
  freeze(owner: string, ms: number): void {
    const until = Math.max(this.#frozenUntil.get(owner) ?? 0, this.now + ms);
    this.#frozenUntil.set(owner, until);
    // moved, in their order (seq), to the moment the process runs again; a sorted array is a heap
    for (const timer of this.#heap) if (timer.owner === owner && timer.at < until) timer.at = until;
    this.#heap.sort((a, b) => (this.#less(a, b) ? -1 : this.#less(b, a) ? 1 : 0));
  }

  /** whether any process is frozen now */
  anyFrozen(): boolean {
    for (const until of this.#frozenUntil.values()) if (until > this.now) return true;
    return false;
  }

  /** resolves once the process runs (at once unless frozen); never, for a dead process */
  awake(owner: string): Promise<void> | undefined {
    const until = this.#frozenUntil.get(owner);
    if (until === undefined || until <= this.now) return undefined;
    return new Promise<void>((resolve) => this.schedule(owner, until - this.now, resolve));
  }

  /** live timers by owner, for the end-of-world report */
  pendingByOwner(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const timer of this.#heap) if (!timer.cancelled) out[timer.owner] = (out[timer.owner] ?? 0) + 1;
    return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
  }

  /** earliest live timer's time, if any */
  peek(): number | undefined {
    this.#dropCancelled();
    return this.#heap[0]?.at;
  }

  /** fires the earliest timer (advancing time to it); false when none is left */
  step(): boolean {
    this.#dropCancelled();
    const timer = this.#pop();
    if (!timer) return false;
    this.now = Math.max(this.now, timer.at);
    this.fired++;
    timer.callback();
    return true;
  }

  clock(owner: string, skewMs = 0): Clock {
    const handles = new WeakMap<TimerHandle, { current: Timer | undefined; stopped: boolean }>();
    const setTimeout = (callback: () => void, ms: number): TimerHandle => {
      const handle: TimerHandle = { unref: () => handle };
      const state = { current: undefined as Timer | undefined, stopped: false };
      state.current = this.schedule(owner, ms, () => {
        if (!state.stopped) callback();
      });
      handles.set(handle, state);
      return handle;
    };
    const clear = (handle: TimerHandle | undefined): void => {
      const state = handle ? handles.get(handle) : undefined;
      if (!state) return;
      state.stopped = true;
      if (state.current) state.current.cancelled = true;
    };
    const setInterval = (callback: () => void, ms: number): TimerHandle => {
      const handle: TimerHandle = { unref: () => handle };
      const state = { current: undefined as Timer | undefined, stopped: false };
      const arm = () => {
        state.current = this.schedule(owner, Math.max(1, ms), () => {
          if (state.stopped) return;
          arm();
          callback();
        });
      };
      arm();
      handles.set(handle, state);
      return handle;
    };
    return {
      now: () => this.now + skewMs,
      setTimeout,
      clearTimeout: clear,
      setInterval,
      clearInterval: clear,
      sleep: (ms, signal) =>
        new Promise<void>((resolve, reject) => {
          if (signal?.aborted) return reject(signal.reason);
          const onAbort = () => {
            clear(handle);
            reject(signal?.reason);
          };
          const handle = setTimeout(() => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          }, ms);
          signal?.addEventListener('abort', onAbort, { once: true });
        }),
    };
  }

  #dropCancelled(): void {
    while (this.#heap[0]?.cancelled) this.#pop();
  }

  #less(a: Timer, b: Timer): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  #push(timer: Timer): void {
    const heap = this.#heap;
    heap.push(timer);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(heap[i] as Timer, heap[parent] as Timer)) break;
      [heap[i], heap[parent]] = [heap[parent] as Timer, heap[i] as Timer];
      i = parent;
    }
  }

  #pop(): Timer | undefined {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && this.#less(heap[l] as Timer, heap[m] as Timer)) m = l;
        if (r < heap.length && this.#less(heap[r] as Timer, heap[m] as Timer)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m] as Timer, heap[i] as Timer];
        i = m;
      }
    }
    return top;
  }
}
