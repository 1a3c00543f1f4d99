/**
 * Whether the core could hear from workers, and since when (issue 12, defect 11). A worker is declared dead
 * for silence, and silence only counts while the core could have received: after the database, the broker
 * or this leader itself was away, every worker gets a whole worker_timeout from the moment the core can
 * receive again before its silence means anything. Decided by the core's own clock only.
 */
import type { CoreContext } from './context.ts';

interface Window {
  /** core clock ms since which status could be received without interruption; undefined while it cannot */
  since: number | undefined;
}

const windows = new WeakMap<object, Window>();

function windowOf(ctx: CoreContext): Window {
  let window = windows.get(ctx.db);
  if (!window) {
    window = { since: undefined };
    windows.set(ctx.db, window);
  }
  return window;
}

export function noteReceiving(ctx: CoreContext): void {
  const window = windowOf(ctx);
  window.since ??= ctx.now();
}

export function noteInterrupted(ctx: CoreContext): void {
  windowOf(ctx).since = undefined;
}

/** how long, in ms, the core has been able to receive without interruption (0 while it cannot) */
export function receivingForMs(ctx: CoreContext): number {
  const since = windowOf(ctx).since;
  return since === undefined ? 0 : ctx.now() - since;
}

/** SQLSTATE classes of a database that is away or busy, not of a bad event: connection, transaction rollback, resources, operator intervention, system */
const TRANSIENT_CLASSES = ['08', '40', '53', '57', '58'];
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * A failure that says nothing about the events (the database or the network is away): retry the same batch.
 * Anything else is only believed to be the events' fault when the database answers right after it.
 */
export async function isTransient(ctx: CoreContext, error: unknown): Promise<boolean> {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (TRANSIENT_CLASSES.some((c) => code.startsWith(c)) || NETWORK_CODES.has(code))) return true;
  try {
    await ctx.db.query('SELECT 1');
    return false;
  } catch {
    return true;
  }
}
