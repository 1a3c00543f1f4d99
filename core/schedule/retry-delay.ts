export interface Backoff {
  initialSeconds: number;
  factor: number;
  maxSeconds: number;
  /** fraction, e.g. 0.1 = +/-10% */
  jitter: number;
}

/**
 * Delay before retry number `retryNumber` (1 = first retry): exponential from initialSeconds,
 * capped at maxSeconds, then spread by +/- jitter so failed runs of many tasks do not retry in step.
 */
export function retryDelayMs(backoff: Backoff, retryNumber: number, random: () => number = Math.random): number {
  const n = Math.max(1, Math.floor(retryNumber));
  const exponential = backoff.initialSeconds * backoff.factor ** (n - 1);
  const baseMs = Math.min(backoff.maxSeconds, Number.isNaN(exponential) ? backoff.maxSeconds : exponential) * 1000;
  const spread = 1 + backoff.jitter * (2 * random() - 1);
  return Math.max(0, Math.round(baseMs * spread));
}
