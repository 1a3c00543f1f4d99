import { ApiProblem } from './problem.ts';

/** Failed authentications one client address may make per window before it is refused outright. */
export const MAX_AUTH_FAILURES = 20;
export const AUTH_FAILURE_WINDOW_MS = 60_000;
/** addresses remembered at most; beyond this the oldest windows are dropped (memory stays bounded under a spray) */
const MAX_TRACKED = 10_000;

/**
 * Counts failed authentications per client address in a fixed window and refuses (429) an address over
 * the limit before its credential is checked, so guessing keys costs a minute per 20 guesses whatever
 * the general rate limit says (that one counts per credential, after authentication). Per API replica.
 */
export class AuthFailures {
  readonly #now: () => number;
  readonly #windows = new Map<string, { start: number; count: number }>();

  constructor(now: () => number) {
    this.#now = now;
  }

  #current(address: string): { start: number; count: number } | undefined {
    const window = this.#windows.get(address);
    if (window && this.#now() - window.start >= AUTH_FAILURE_WINDOW_MS) {
      this.#windows.delete(address);
      return undefined;
    }
    return window;
  }

  assertAllowed(address: string): void {
    const window = this.#current(address);
    if (!window || window.count < MAX_AUTH_FAILURES) return;
    const retryAfter = Math.max(1, Math.ceil((window.start + AUTH_FAILURE_WINDOW_MS - this.#now()) / 1000));
    throw new ApiProblem(429, 'HG_ERR_AUTH_THROTTLED', `too many failed authentications from this address; try again in ${retryAfter} s`, { 'retry-after': String(retryAfter) });
  }

  record(address: string): void {
    const window = this.#current(address);
    if (window) {
      window.count++;
      return;
    }
    if (this.#windows.size >= MAX_TRACKED) {
      const oldest = this.#windows.keys().next().value;
      if (oldest !== undefined) this.#windows.delete(oldest);
    }
    this.#windows.set(address, { start: this.#now(), count: 1 });
  }
}
