import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../clock/index.ts';
import { acquireLease, type Db, fenceLease, LeaseLostError, type LeaseTerm, type Queryable, readLease, releaseLease, renewLease } from '../store/index.ts';
import { LivenessHint } from './leader-hint.ts';

/** the lease row of the dispatcher leader */
export const DISPATCHER_LEASE = 'dispatcher';

export interface Leadership {
  /** leading, and the last renewal is younger than the renew deadline by this process's clock */
  isLeader(): boolean;
  /** the fence of the current term (see LeaderTerm.fence); throws LeaseLostError when not leading */
  fence(tx: Queryable): Promise<void>;
  stop(): Promise<void>;
}

/** What the leader's work receives for its term. */
export interface LeaderTerm {
  readonly epoch: number;
  /**
   * Call inside every write transaction of a decision: it fails (LeaseLostError) once this term is over,
   * and holds off a takeover until the transaction ends, so a woken old leader can never commit.
   */
  fence(tx: Queryable): Promise<void>;
}

export interface LeadershipOptions {
  clock: Clock;
  /** how long a term lasts without renewal; standbys take over after it */
  leaseMs?: number;
  /** how often the holder renews; default leaseMs / 5 */
  renewMs?: number;
  /**
   * a holder whose last successful renewal started longer ago than this stops leading; default
   * leaseMs / 2, so it stops well before the lease can expire for a standby (whose clock may run ahead
   * by up to leaseMs - renewDeadlineMs)
   */
  renewDeadlineMs?: number;
  /** how often a standby tries to take the lease */
  retryMs?: number;
  name?: string;
}

const DEFAULT_LEASE_MS = 5000;
/** renewals allowed in flight at once: one stuck on a dead pooled connection must not stop the next */
const MAX_RENEWALS_IN_FLIGHT = 2;

/**
 * One dispatcher leads at a time through a lease row (core/store/leases.ts). A standby takes the lease once
 * it expired (or was released) and becomes leader with a new epoch; the holder renews it every renewMs and
 * stops leading when no renewal succeeded within renewDeadlineMs, or when a renewal finds its epoch gone.
 * While leading, `lead(term)` runs and returns the function that stops its work.
 *
 * Why not a session advisory lock (issue 12, defect 4): it never expires while its holder is frozen or its
 * host vanished without closing its sockets, so standbys waited for Postgres to notice the dead session.
 */
export function holdLeadership(db: Db, logger: Logger, lead: (term: LeaderTerm) => Promise<() => Promise<void>>, options: LeadershipOptions): Leadership {
  const { clock } = options;
  const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  const renewMs = options.renewMs ?? Math.max(50, Math.floor(leaseMs / 5));
  const renewDeadlineMs = options.renewDeadlineMs ?? Math.floor(leaseMs / 2);
  const retryMs = options.retryMs ?? 1000;
  const name = options.name ?? DISPATCHER_LEASE;
  // a new id per process: a restarted process never mistakes its predecessor's term for its own
  const holder = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  let term: LeaseTerm | undefined;
  let validUntil = -Infinity;
  let stopped = false;
  let wake: () => void = () => {};
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = clock.setTimeout(resolve, ms);
      wake = () => {
        clock.clearTimeout(timer);
        resolve();
      };
    });

  const leading = () => term !== undefined && clock.now() < validUntil;
  // checked here first (no round trip once this process knows its term is over), then in the database
  const fenceTerm = async (tx: Queryable, current: LeaseTerm) => {
    if (term !== current || !leading()) throw new LeaseLostError(current);
    // PGlite's session lives in this process: no vanished host can hold it, and its timer would be a real one
    await fenceLease(tx, current, db.kind === 'pg' ? renewDeadlineMs : undefined);
  };
  /** Renews the term until it is lost or stopped; resolves with the reason. */
  const keep = (current: LeaseTerm, hint: LivenessHint) =>
    new Promise<string>((resolve) => {
      let done = false;
      let inFlight = 0;
      let watchdog: TimerHandle | undefined;
      const finish = (why: string) => {
        if (done) return;
        done = true;
        clock.clearTimeout(watchdog);
        clock.clearInterval(renewer);
        resolve(why);
      };
      const arm = () => {
        clock.clearTimeout(watchdog);
        watchdog = clock.setTimeout(() => finish(`no renewal succeeded within ${renewDeadlineMs} ms`), Math.max(0, validUntil - clock.now()));
      };
      const renew = () => {
        if (done || inFlight >= MAX_RENEWALS_IN_FLIGHT) return;
        inFlight++;
        const started = clock.now();
        // a hint lost with its connection (or held by a vanished predecessor's session) is taken again
        if (!hint.held) void hint.take();
        renewLease(db, current, started, leaseMs, hint.held).then(
          (held) => {
            inFlight--;
            if (done) return;
            if (!held) return finish('the lease was taken over');
            validUntil = Math.max(validUntil, started + renewDeadlineMs);
            arm();
          },
          (error: Error) => {
            inFlight--;
            logger.warn({ err: error.message }, 'leader lease renewal failed; retrying');
          },
        );
      };
      const renewer = clock.setInterval(renew, renewMs);
      wake = () => finish('stopping');
      arm();
    });

  const loop = (async () => {
    while (!stopped) {
      const startedAt = clock.now();
      const hint = new LivenessHint(db);
      let epoch: number | null = null;
      try {
        // a live lease whose holder's hint is free: the holder's process is gone, no need to wait the expiry out.
        // Probed only once a renewal is overdue (by this clock: a skew only makes the hint useless), so that
        // standbys do not open a connection a second each while the leader is well.
        const seen = await readLease(db, name, startedAt);
        const overdue = seen !== null && seen.live && seen.hinted && startedAt - seen.renewedAt.getTime() > renewMs * 1.5;
        const orphaned = overdue && (await hint.take()) ? seen.epoch : undefined;
        epoch = await acquireLease(db, name, holder, startedAt, leaseMs, orphaned);
        if (orphaned !== undefined && epoch !== null) logger.info({ epoch: orphaned }, 'the leader\'s session is gone; taking its lease before the expiry');
      } catch (error) {
        logger.warn({ err: (error as Error).message }, 'leader election: database unreachable; retrying');
      }
      if (epoch === null) {
        await hint.release();
        await pause(retryMs);
        continue;
      }
      const current: LeaseTerm = { name, holder, epoch };
      if (stopped) {
        // taken while stopping: hand it straight back rather than make the standbys wait for the expiry
        await releaseLease(db, current).catch(() => {});
        await hint.release();
        break;
      }
      void hint.take();
      term = current;
      validUntil = startedAt + renewDeadlineMs;
      logger.info({ epoch, holder }, 'became the dispatcher leader');
      const kept = keep(current, hint);
      let stopWork: (() => Promise<void>) | undefined;
      let why: string;
      try {
        stopWork = await lead({ epoch, fence: (tx) => fenceTerm(tx, current) });
        why = await kept;
      } catch (error) {
        logger.error({ err: (error as Error).message }, 'leader work failed to start; giving up leadership');
        wake();
        why = await kept;
      }
      term = undefined;
      validUntil = -Infinity;
      // said at once: stopping the work may wait for a query stuck on a dead connection (query_timeout),
      // and the fence already refuses every write of this term
      if (!stopped) logger.warn({ epoch, why }, 'lost dispatcher leadership; standing by');
      await stopWork?.().catch((error: Error) => logger.error({ err: error.message }, 'stopping leader work failed'));
      // handing over at once on a clean stop; a lost term has nothing to release
      await releaseLease(db, current).catch((error: Error) => logger.warn({ err: error.message }, 'releasing the leader lease failed; it expires on its own'));
      await hint.release();
      if (!stopped) await pause(retryMs);
    }
  })();

  return {
    isLeader: leading,
    async fence(tx) {
      const current = term;
      if (!current) throw new LeaseLostError({ name, holder, epoch: 0 });
      await fenceTerm(tx, current);
    },
    async stop() {
      stopped = true;
      wake();
      await loop;
    },
  };
}

/** Whether any dispatcher holds an unexpired leader lease, by the reader's clock. */
export async function leaderHeld(db: Queryable, nowMs: number): Promise<boolean> {
  return (await readLease(db, DISPATCHER_LEASE, nowMs))?.live === true;
}
