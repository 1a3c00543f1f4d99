import type { Clock, TimerHandle } from '../core/clock/index.ts';
import { formatSeconds } from './executors/common.ts';
import { RunStop } from './executors/types.ts';

/**
 * The one signal of an attempt: aborted by `cancel` (with its RunStop reason: cancelled, shutdown) or,
 * after timeoutMs on the clock, with RunStop('timed_out'). The worker owns the timeout; executors only
 * react to the signal (issue 12 §3). dispose() clears the timer once the attempt is over.
 */
export function runDeadline(clock: Clock, timeoutMs: number, cancel: AbortSignal): { signal: AbortSignal; dispose(): void } {
  const deadline = new AbortController();
  const timer = clock.setTimeout(
    () => deadline.abort(new RunStop('timed_out', `timed out after ${formatSeconds(timeoutMs)}`)),
    Math.min(Math.max(0, timeoutMs), 2 ** 31 - 1),
  );
  timer.unref?.();
  return { signal: AbortSignal.any([cancel, deadline.signal]), dispose: () => clock.clearTimeout(timer) };
}

/** Resolves with the promise's outcome, or 'timeout' after ms on the clock (the drain and final-flush bounds). */
export async function within<T>(clock: Clock, promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: TimerHandle | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = clock.setTimeout(() => resolve('timeout'), ms);
    timer.unref?.();
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clock.clearTimeout(timer);
  }
}
