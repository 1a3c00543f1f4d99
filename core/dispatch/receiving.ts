/**
 * Whether the core could hear from workers, and since when (issue 12, defect 11). A worker is declared dead
 * for silence, and silence only counts while the core could have received: after the database, the broker
 * or this leader itself was away, every worker gets a whole worker_timeout from the moment the core can
 * receive again before its silence means anything. Decided by the core's own clock only.
 */
import { systemClock } from '../clock/index.ts';
import { databaseNow } from '../store/index.ts';
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

/** SQLSTATE classes that blame the statement's data: data exception, integrity constraint, program limit */
const POISON_CLASSES = ['22', '23', '54'];
/** an event that keeps failing for no reason we recognise is set aside after this many tries in a row */
export const UNEXPLAINED_FAILURES_BEFORE_DEAD_LETTER = 5;

/**
 * Whether a failure to apply events blames the events themselves, so that retrying them cannot help: a
 * Postgres error of a data class, or our own code refusing a value (RangeError, TypeError). A failure with
 * no such sign (a reset connection, whose error carries no code; a timeout; a fault) blames the moment,
 * not the events: they are retried, so a success is never lost to a blip, and set aside only after failing
 * UNEXPLAINED_FAILURES_BEFORE_DEAD_LETTER times in a row while the database answered.
 */
export function blamesTheEvents(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return POISON_CLASSES.some((c) => code.startsWith(c));
  return error instanceof RangeError || error instanceof TypeError;
}

/**
 * The time that worker liveness is stamped and judged by. Heartbeats are recorded by whichever core process
 * applies them and judged by the leader's reaper: on real hosts their clocks differ, and one that jumps
 * ahead (a leader's clock 15 s fast) would declare every healthy worker dead. So with the system clock both
 * sides take the database's clock, the one clock all of them share; an injected clock (the simulator's
 * virtual time, a test's) is already the one time of its world and is used as it is.
 */
export async function livenessNow(ctx: CoreContext): Promise<Date> {
  return ctx.clock === systemClock ? databaseNow(ctx.db) : new Date(ctx.now());
}
