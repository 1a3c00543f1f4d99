/**
 * The one source of time for the core and the worker. Production uses `systemClock`; the deterministic
 * simulator (test/sim) substitutes a virtual clock, so every decision that depends on time, timers
 * included, must take it from here and never from `Date.now()` or the global timer functions.
 */
export interface Clock {
  /** milliseconds since the epoch */
  now(): number;
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
  setInterval(callback: () => void, ms: number): TimerHandle;
  clearInterval(handle: TimerHandle | undefined): void;
  /** resolves after `ms`, or rejects with the signal's reason when it aborts first */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** opaque: a system timer or a simulated one */
export interface TimerHandle {
  unref?(): unknown;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout | undefined),
  setInterval: (callback, ms) => setInterval(callback, ms),
  clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout | undefined),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

/** A clock whose `now` is offset from another's, for processes with skewed clocks. */
export function skewedClock(base: Clock, offsetMs: () => number): Clock {
  return { ...base, now: () => base.now() + offsetMs() };
}
