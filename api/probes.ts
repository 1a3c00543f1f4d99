import type { CoreContext } from '../core/dispatch/context.ts';
import { firePartitionsHeld } from '../core/dispatch/fire-partitions.ts';
import { leaderHeld as leaseHeld } from '../core/dispatch/leadership.ts';
import { pingDatabase } from '../core/store/index.ts';

export interface Probe {
  ok: boolean;
  latencyMs: number;
  reason?: string;
}

/** Runs a check with a deadline; a probe never throws and never hangs a readiness answer. */
export async function probe(check: () => Promise<unknown>, timeoutMs: number): Promise<Probe> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { ok: true, latencyMs: Math.round((performance.now() - started) * 10) / 10 };
  } catch (error) {
    return { ok: false, latencyMs: Math.round(performance.now() - started), reason: (error as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

export function databaseProbe(core: CoreContext, timeoutMs: number): Promise<Probe> {
  return probe(() => pingDatabase(core.db), timeoutMs);
}

export function queueProbe(core: CoreContext, timeoutMs: number): Promise<Probe> {
  return probe(() => core.queue.ping(), timeoutMs);
}

/**
 * Whether any dispatcher holds an unexpired leader lease (the hg_leases row, on PGlite too): the one place
 * the health check reads leadership.
 */
export async function leaderHeld(core: CoreContext): Promise<boolean> {
  return leaseHeld(core.db, core.now());
}

/** How many of the FIRE_PARTITIONS fire partitions a live dispatcher holds. */
export function partitionsHeld(core: CoreContext): Promise<number> {
  return firePartitionsHeld(core.db, core.now());
}
