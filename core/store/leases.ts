import type { Queryable } from './db.ts';

/**
 * Leases in Postgres (table hg_leases, migration 0003): a named leadership with a holder, an expiry and an
 * epoch that grows at every takeover. Every time is a parameter, from the caller's injected clock: Postgres's
 * own clock decides nothing here. Safety never depends on clocks agreeing: the epoch does (see fenceLease).
 */
export interface LeaseTerm {
  name: string;
  holder: string;
  /** the fencing token of this term */
  epoch: number;
}

export interface LeaseState {
  holder: string;
  epoch: number;
  expiresAt: Date;
  renewedAt: Date;
  /** unexpired by the reader's clock */
  live: boolean;
  /** the holder said it holds the liveness hint (a session advisory lock) */
  hinted: boolean;
}

/** thrown by fenceLease: the caller's term is over, and the transaction must not commit */
export class LeaseLostError extends Error {
  readonly code = 'HG_ERR_STORE_LEASE_LOST';
  constructor(term: LeaseTerm) {
    super(`the ${term.name} lease of epoch ${term.epoch} is no longer held by ${term.holder}; this process stopped leading`);
    this.name = 'LeaseLostError';
  }
}

/**
 * Takes the lease when it is free (never held, expired by `nowMs`, or released) and returns the new epoch,
 * or null. `orphanedEpoch`: the caller took the holder's liveness hint, so the holder of that epoch is
 * gone and its lease may be taken before it expires (its writes are fenced off by the epoch anyway).
 * A row locked by the holder's fence (a decision in flight) is skipped, not waited for: the caller tries
 * again later, and a standby never queues behind a vanished leader's open transaction.
 */
export async function acquireLease(db: Queryable, name: string, holder: string, nowMs: number, leaseMs: number, orphanedEpoch?: number): Promise<number | null> {
  const { rows } = await db.query<{ epoch: number }>(
    `WITH free AS (
       SELECT name FROM hg_leases WHERE name = $1 AND (expires_at <= $3::timestamptz OR (hinted AND epoch = $5::bigint))
          FOR UPDATE SKIP LOCKED
     ), taken AS (
       UPDATE hg_leases l SET holder = $2, epoch = l.epoch + 1, acquired_at = $3::timestamptz, renewed_at = $3::timestamptz,
                              expires_at = $4::timestamptz, hinted = false
         FROM free WHERE l.name = free.name RETURNING l.epoch
     ), created AS (
       INSERT INTO hg_leases (name, holder, epoch, acquired_at, renewed_at, expires_at)
       SELECT $1, $2, 1, $3::timestamptz, $3::timestamptz, $4::timestamptz WHERE NOT EXISTS (SELECT 1 FROM hg_leases WHERE name = $1)
       ON CONFLICT (name) DO NOTHING RETURNING epoch
     )
     SELECT epoch FROM taken UNION ALL SELECT epoch FROM created`,
    [name, holder, new Date(nowMs).toISOString(), new Date(nowMs + leaseMs).toISOString(), orphanedEpoch ?? null],
  );
  return rows[0]?.epoch ?? null;
}

/** Extends the term to `nowMs + leaseMs`; false when the term is over (taken over or released). */
export async function renewLease(db: Queryable, term: LeaseTerm, nowMs: number, leaseMs: number, hinted = false): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE hg_leases SET renewed_at = $4::timestamptz, expires_at = $5::timestamptz, hinted = $6 WHERE name = $1 AND holder = $2 AND epoch = $3`,
    [term.name, term.holder, term.epoch, new Date(nowMs).toISOString(), new Date(nowMs + leaseMs).toISOString(), hinted],
  );
  return rowCount === 1;
}

/** Gives the term up: a standby may take the lease at once instead of waiting for the expiry. */
export async function releaseLease(db: Queryable, term: LeaseTerm): Promise<void> {
  await db.query(`UPDATE hg_leases SET expires_at = 'epoch'::timestamptz WHERE name = $1 AND holder = $2 AND epoch = $3`, [term.name, term.holder, term.epoch]);
}

/**
 * The fence: call it inside a write transaction before (or with) its writes. It holds the lease row FOR
 * KEY SHARE until the transaction ends, so a takeover (FOR UPDATE, acquireLease) cannot commit in between
 * (the next epoch sees every write of this one), and throws LeaseLostError when the epoch moved on: a leader
 * that woke up after losing its lease cannot commit anything. KEY SHARE, not SHARE: the holder's own renewal
 * (an UPDATE of no key column) goes past it. Under SHARE a fenced write longer than the renewal deadline
 * (a history retention pass of 100,000 tasks: 30 s) held the renewal back, and the leader gave up its lease
 * for a write of its own. Because a vanished holder's open transaction would hold that
 * row lock until the server noticed, the transaction also gets `idle_in_transaction_session_timeout`:
 * the server ends it on its own after `idleTimeoutMs` of client silence. Without it (undefined: the embedded
 * PGlite, one session inside this very process, which no other host can outlive) the row lock alone fences.
 */
export async function fenceLease(tx: Queryable, term: LeaseTerm, idleTimeoutMs: number | undefined): Promise<void> {
  const { rows } =
    idleTimeoutMs === undefined
      ? await tx.query(`SELECT 1 FROM hg_leases WHERE name = $1 AND holder = $2 AND epoch = $3 FOR KEY SHARE`, [term.name, term.holder, term.epoch])
      : await tx.query(
          `SELECT set_config('idle_in_transaction_session_timeout', $4, true) FROM hg_leases WHERE name = $1 AND holder = $2 AND epoch = $3 FOR KEY SHARE`,
          [term.name, term.holder, term.epoch, String(Math.max(1, Math.round(idleTimeoutMs)))],
        );
  if (rows.length === 0) throw new LeaseLostError(term);
}

/** Who holds the lease, as the reader's clock sees it; null when nobody ever took it. */
export async function readLease(db: Queryable, name: string, nowMs: number): Promise<LeaseState | null> {
  const { rows } = await db.query<{ holder: string; epoch: number; expires_at: Date | string; renewed_at: Date | string; live: boolean; hinted: boolean }>(
    `SELECT holder, epoch, expires_at, renewed_at, expires_at > $2::timestamptz AS live, hinted FROM hg_leases WHERE name = $1`,
    [name, new Date(nowMs).toISOString()],
  );
  const row = rows[0];
  if (!row) return null;
  return { holder: row.holder, epoch: row.epoch, expiresAt: new Date(row.expires_at), renewedAt: new Date(row.renewed_at), live: row.live, hinted: row.hinted };
}
