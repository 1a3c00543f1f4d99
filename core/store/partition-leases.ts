import type { Queryable } from './db.ts';
import { LeaseLostError } from './leases.ts';

/** thrown by a fire partition's fence: these partitions changed hands; the rest of the write may be tried again */
export class PartitionsLostError extends LeaseLostError {
  readonly partitions: number[];
  constructor(holder: string, partitions: number[]) {
    super({ name: `fire partitions ${partitions.join(', ')}`, holder, epoch: 0 });
    this.name = 'PartitionsLostError';
    this.partitions = partitions;
  }
}

/**
 * Fire partitions as lease rows of hg_leases (the table of core/store/leases.ts): one row per partition,
 * each with its own holder, expiry and epoch, plus one membership row per live dispatcher, so that every
 * holder can compute its fair share. Every time is a parameter from the caller's clock; safety rests on the
 * epochs (fencePartitions), never on clocks agreeing.
 */
export interface PartitionTerm {
  /** the lease row's name */
  name: string;
  epoch: number;
}

export interface TakenPartition extends PartitionTerm {
  /** its last holder gave it back (a clean stop, a rebalance) or was found gone, rather than letting it expire */
  handedOver: boolean;
  /** when its last holder last renewed it, by that holder's clock */
  previousRenewedMs: number;
}

const iso = (ms: number) => new Date(ms).toISOString();

export interface MemberBeat {
  /** live members, this one included */
  members: number;
  /** live members that said they hold their liveness hint but have not renewed since `overdueBeforeMs` */
  overdue: string[];
}

/**
 * Renews the member row of `holder` (created when missing), forgets member rows expired long ago, counts
 * the live members and names the overdue ones (whose hint the caller may probe).
 */
export async function heartbeatMember(
  db: Queryable,
  beat: { memberName: string; holder: string; memberPrefix: string; hinted: boolean },
  nowMs: number,
  leaseMs: number,
  overdueBeforeMs: number,
): Promise<MemberBeat> {
  const { rows } = await db.query<{ holder: string | null; overdue: boolean }>(
    `WITH beat AS (
       INSERT INTO hg_leases (name, holder, epoch, acquired_at, renewed_at, expires_at, hinted)
       VALUES ($1, $2, 1, $4::timestamptz, $4::timestamptz, $5::timestamptz, $7)
       ON CONFLICT (name) DO UPDATE SET renewed_at = EXCLUDED.renewed_at, expires_at = EXCLUDED.expires_at, hinted = EXCLUDED.hinted
       RETURNING name
     ), forgotten AS (
       DELETE FROM hg_leases WHERE starts_with(name, $3) AND name <> $1 AND expires_at < $6::timestamptz RETURNING name
     )
     SELECT holder, hinted AND renewed_at < $8::timestamptz AS overdue FROM hg_leases
      WHERE starts_with(name, $3) AND name <> $1 AND expires_at > $4::timestamptz`,
    [beat.memberName, beat.holder, beat.memberPrefix, iso(nowMs), iso(nowMs + leaseMs), iso(nowMs - 60_000), beat.hinted, iso(overdueBeforeMs)],
  );
  return { members: rows.length + 1, overdue: rows.filter((r) => r.overdue && r.holder).map((r) => r.holder as string) };
}

/**
 * Frees at once what a holder known to be gone held (its liveness hint was free): its partitions and its
 * member row. Rows locked by a write of its still in flight are left to expire.
 */
export async function freeGoneHolder(db: Queryable, holder: string, partitionPrefix: string, memberPrefix: string): Promise<number> {
  const { rowCount } = await db.query(
    `UPDATE hg_leases l SET expires_at = 'epoch'::timestamptz
       FROM (SELECT name FROM hg_leases WHERE holder = $1 AND (starts_with(name, $2) OR starts_with(name, $3)) FOR UPDATE SKIP LOCKED) AS gone
      WHERE l.name = gone.name`,
    [holder, partitionPrefix, memberPrefix],
  );
  return rowCount ?? 0;
}

/** Leaves at once (a clean stop): the others count one member less at their next heartbeat. */
export async function leaveMembers(db: Queryable, memberName: string, holder: string): Promise<void> {
  await db.query(`DELETE FROM hg_leases WHERE name = $1 AND holder = $2`, [memberName, holder]);
}

/** Extends the terms still held; returns the names renewed (a missing name was taken over or released). */
export async function renewPartitions(db: Queryable, holder: string, terms: PartitionTerm[], nowMs: number, leaseMs: number): Promise<Set<string>> {
  if (terms.length === 0) return new Set();
  const { rows } = await db.query<{ name: string }>(
    `UPDATE hg_leases l SET renewed_at = $4::timestamptz, expires_at = $5::timestamptz
       FROM unnest($2::text[], $3::bigint[]) AS t(name, epoch)
      WHERE l.name = t.name AND l.epoch = t.epoch AND l.holder = $1
      RETURNING l.name`,
    [holder, terms.map((t) => t.name), terms.map((t) => t.epoch), iso(nowMs), iso(nowMs + leaseMs)],
  );
  return new Set(rows.map((r) => r.name));
}

/**
 * Takes at most `most` of the named partitions that are free (never held, expired by `nowMs`, or released),
 * lowest name first; a row locked by its holder's fence (a write in flight) is skipped, not waited for.
 */
export async function acquirePartitions(db: Queryable, holder: string, names: string[], most: number, nowMs: number, leaseMs: number): Promise<TakenPartition[]> {
  if (names.length === 0 || most <= 0) return [];
  // rows that never existed are made free first, so that taking them is the same statement as taking an expired one
  await db.query(
    `INSERT INTO hg_leases (name, holder, epoch, acquired_at, renewed_at, expires_at)
     SELECT n, '', 0, 'epoch'::timestamptz, 'epoch'::timestamptz, 'epoch'::timestamptz FROM unnest($1::text[]) AS n
     ON CONFLICT (name) DO NOTHING`,
    [names],
  );
  const { rows } = await db.query<{ name: string; epoch: string | number; handed_over: boolean; previous_renewed_ms: string | number }>(
    `WITH free AS (
       SELECT name, holder <> '' AND expires_at = 'epoch'::timestamptz AS handed_over, renewed_at AS previous_renewed_at
         FROM hg_leases WHERE name = ANY($1::text[]) AND expires_at <= $3::timestamptz
        ORDER BY name LIMIT $5 FOR UPDATE SKIP LOCKED
     )
     UPDATE hg_leases l SET holder = $2, epoch = l.epoch + 1, acquired_at = $3::timestamptz, renewed_at = $3::timestamptz,
                            expires_at = $4::timestamptz, hinted = false
       FROM free WHERE l.name = free.name
     RETURNING l.name, l.epoch, free.handed_over, floor(extract(epoch FROM free.previous_renewed_at) * 1000)::float8 AS previous_renewed_ms`,
    [names, holder, iso(nowMs), iso(nowMs + leaseMs), most],
  );
  return rows
    .map((r) => ({ name: r.name, epoch: Number(r.epoch), handedOver: r.handed_over, previousRenewedMs: Number(r.previous_renewed_ms) }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** Gives terms up: another dispatcher may take them at once, or, where a write of this holder is still in flight, once it ended (its fence holds the row against a takeover). */
export async function releasePartitions(db: Queryable, holder: string, terms: PartitionTerm[]): Promise<void> {
  if (terms.length === 0) return;
  await db.query(
    `UPDATE hg_leases l SET expires_at = 'epoch'::timestamptz
       FROM unnest($2::text[], $3::bigint[]) AS t(name, epoch)
      WHERE l.name = t.name AND l.epoch = t.epoch AND l.holder = $1`,
    [holder, terms.map((t) => t.name), terms.map((t) => t.epoch)],
  );
}

/**
 * The fence of a write that fires tasks of these partitions: it holds their rows FOR KEY SHARE until the
 * transaction ends (no takeover, FOR UPDATE in acquirePartitions, commits in between; the holder's renewal,
 * which updates no key column, is not held back: see fenceLease) and returns the names of the terms still held (fewer
 * than given: a term is over, and the transaction must not commit). As in
 * fenceLease, `idleTimeoutMs` makes the server end the transaction of a holder gone silent, whose row locks
 * would otherwise outlive it; undefined on the embedded PGlite.
 */
export async function fencePartitions(tx: Queryable, holder: string, terms: PartitionTerm[], idleTimeoutMs: number | undefined): Promise<Set<string>> {
  if (terms.length === 0) return new Set();
  const { rows } = await tx.query<{ name: string }>(
    `SELECT l.name${idleTimeoutMs === undefined ? '' : `, set_config('idle_in_transaction_session_timeout', $4, true)`}
       FROM hg_leases l JOIN unnest($2::text[], $3::bigint[]) AS t(name, epoch) ON l.name = t.name AND l.epoch = t.epoch
      WHERE l.holder = $1
      ORDER BY l.name
        FOR KEY SHARE OF l`,
    idleTimeoutMs === undefined
      ? [holder, terms.map((t) => t.name), terms.map((t) => t.epoch)]
      : [holder, terms.map((t) => t.name), terms.map((t) => t.epoch), String(Math.max(1, Math.round(idleTimeoutMs)))],
  );
  return new Set(rows.map((r) => r.name));
}

/** How many lease rows named with `prefix` are unexpired by `nowMs` (the fire partitions some dispatcher holds). */
export async function countLiveLeases(db: Queryable, prefix: string, nowMs: number): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM hg_leases WHERE starts_with(name, $1) AND expires_at > $2::timestamptz`, [prefix, iso(nowMs)]);
  return rows[0]?.n ?? 0;
}
