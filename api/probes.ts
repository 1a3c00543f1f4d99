import type { CoreContext } from '../core/dispatch/context.ts';
import { LEADER_LOCK_KEY } from '../core/dispatch/leadership.ts';

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
  return probe(() => core.db.query('SELECT 1'), timeoutMs);
}

export function queueProbe(core: CoreContext, timeoutMs: number): Promise<Probe> {
  return probe(() => core.queue.ping(), timeoutMs);
}

/**
 * Whether any dispatcher holds the leadership: the one place the health check reads it, so that a change
 * of how leadership is held (advisory lock, lease row) changes only this function.
 * The embedded database (PGlite) has no pg_locks and serves one process: only this process can lead.
 */
export async function leaderHeld(core: CoreContext, thisProcessLeads?: () => boolean): Promise<boolean> {
  if (core.db.kind === 'pglite') return thisProcessLeads?.() ?? false;
  const { rows } = await core.db.query<{ held: boolean }>(
    `SELECT EXISTS (
       SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND objsubid = 1 AND granted
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())) AS held`,
    [LEADER_LOCK_KEY],
  );
  return rows[0]?.held === true;
}
