import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Clock } from '../clock/index.ts';
import {
  acquirePartitions,
  countLiveLeases,
  type Db,
  FIRE_PARTITIONS,
  fencePartitions,
  freeGoneHolder,
  heartbeatMember,
  LeaseLostError,
  leaveMembers,
  partitionOf,
  PartitionsLostError,
  type PartitionTerm,
  type Queryable,
  releasePartitions,
  type TakenPartition,
  renewPartitions,
} from '../store/index.ts';
import { LEADER_HINT_KEY, LivenessHint } from './leader-hint.ts';

/**
 * FIRE_PARTITIONS: how many partitions the scheduled tasks are spread over. Fixed, so that every replica of
 * every version agrees on which partition a task is in without asking (partitionOf, and the column Postgres
 * keeps of it); 64 spreads the firing work evenly over up to a few dozen dispatchers (each holds
 * ceil(64 / members)).
 */
export { FIRE_PARTITIONS, partitionOf } from '../store/index.ts';

const PARTITION_PREFIX = 'dispatcher/fire/';
const MEMBER_PREFIX = 'dispatcher/member/';

/** the advisory lock key of a member's liveness hint: apart from the leader's, one per holder */
function memberHintKey(holder: string): number {
  return LEADER_HINT_KEY * 2 ** 20 + (partitionOf(holder, 2 ** 20) >>> 0);
}

export function partitionLeaseName(partition: number): string {
  return `${PARTITION_PREFIX}${String(partition).padStart(2, '0')}`;
}

/** How many fire partitions some dispatcher holds now (by the reader's clock): below FIRE_PARTITIONS, some tasks fire nowhere. */
export function firePartitionsHeld(db: Queryable, nowMs: number): Promise<number> {
  return countLiveLeases(db, PARTITION_PREFIX, nowMs);
}

/** What the owner of partitions is told, synchronously and in order, as they come and go. */
export interface PartitionListener {
  gained(partitions: number[]): void;
  lost(partitions: number[]): void;
}

/** The partitions this process may fire, and the fence of every write that fires them. */
export interface FirePartitions {
  /**
   * The task's partition is held: from the gained to the lost call for it. Whether a write may still commit
   * is the fence's to say (a late renewal makes it refuse for a while without the partition being lost).
   */
  ownsTask(taskId: string): boolean;
  /**
   * Since when this process answers for the task's fires: when it took the partition, or, for one handed
   * over (a clean stop, a rebalance, a holder found gone), when the last holder last renewed it, at most a
   * lease before. The few seconds of a hand-over are late fires, not downtime.
   */
  heldSince(taskId: string): number | undefined;
  /**
   * Fails unless every task's partition is still held; holds off takeovers until the transaction ends.
   * PartitionsLostError: these partitions changed hands (they are given up here at once, so the rest of the
   * write can go again without them); LeaseLostError: no renewal succeeded in time (try again shortly).
   */
  fence(tx: Queryable, taskIds: Iterable<string>): Promise<void>;
  held(): number[];
  /** Starts taking and renewing partitions (the listener must be ready). */
  start(): void;
  /** Stops renewing and hands every partition back at once. */
  stop(): Promise<void>;
}

export interface FirePartitionOptions {
  clock: Clock;
  /** a partition not renewed for this long may be taken by another dispatcher */
  leaseMs: number;
  /** default leaseMs / 5 */
  renewMs?: number;
  /** a partition whose renewal has not succeeded for this long is no longer fired here; default leaseMs / 2 */
  renewDeadlineMs?: number;
  partitions?: number;
  holder?: string;
}

interface Held {
  term: PartitionTerm;
  since: number;
}

/**
 * Leases over a fixed number of partitions (hg_leases rows, core/store/partition-leases.ts): each live
 * dispatcher holds about an equal share, ceil(partitions / live members), counted through a member row each
 * renews. Every renewMs a dispatcher renews its member row and its partitions, gives back what is beyond its
 * share (a new member came) and takes free ones up to it (a member left or died: its rows expire after leaseMs).
 * So a dead dispatcher's partitions move within leaseMs + renewMs, and one dispatcher alone holds them all.
 * A task is fired only by the holder of its partition, under that partition's epoch (fence): a frozen or
 * partitioned holder that lost a partition commits nothing for it, as with the single leader lease.
 */
export function holdFirePartitions(db: Db, logger: Logger, listener: PartitionListener, options: FirePartitionOptions): FirePartitions {
  const { clock, leaseMs } = options;
  const count = options.partitions ?? FIRE_PARTITIONS;
  const renewMs = options.renewMs ?? Math.max(50, Math.floor(leaseMs / 5));
  const renewDeadlineMs = options.renewDeadlineMs ?? Math.floor(leaseMs / 2);
  // a new id per process: a restarted process never mistakes its predecessor's terms for its own
  const holder = options.holder ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  const memberName = `${MEMBER_PREFIX}${holder}`;
  const held = new Map<number, Held>();
  // a session lock of its own: when another dispatcher can take it, this process is gone (kill -9 closed its
  // socket) and its partitions need not wait out their expiry (leader-hint.ts; a hint, the epochs stay the fence)
  const hint = new LivenessHint(db, memberHintKey(holder));
  let validUntil = -Infinity;
  let stopped = false;
  let wake: () => void = () => {};

  const valid = () => clock.now() < validUntil;
  const drop = (partitions: number[], why: string) => {
    if (partitions.length === 0) return [];
    const terms = partitions.map((p) => (held.get(p) as Held).term);
    for (const p of partitions) held.delete(p);
    logger.info({ partitions: partitions.length, held: held.size, why }, 'fire partitions given up');
    listener.lost(partitions);
    return terms;
  };

  const cycle = async () => {
    const started = clock.now();
    if (!hint.held) void hint.take();
    const beat = await heartbeatMember(db, { memberName, holder, memberPrefix: MEMBER_PREFIX, hinted: hint.held }, started, leaseMs, started - renewMs * 1.5);
    let { members } = beat;
    for (const other of beat.overdue) {
      const probe = new LivenessHint(db, memberHintKey(other));
      if (await probe.take()) {
        const freed = await freeGoneHolder(db, other, PARTITION_PREFIX, MEMBER_PREFIX).finally(() => probe.release());
        members -= 1;
        logger.info({ dispatcher: other, freed }, 'a dispatcher\'s session is gone; its fire partitions are free before their expiry');
      } else await probe.release();
    }
    if (held.size > 0) {
      const renewed = await renewPartitions(db, holder, [...held.values()].map((h) => h.term), started, leaseMs);
      drop([...held.keys()].filter((p) => !renewed.has(partitionLeaseName(p))), 'taken over');
    }
    validUntil = Math.max(validUntil, started + renewDeadlineMs);
    const share = Math.ceil(count / Math.max(1, members));
    if (held.size > share) {
      // the highest first: a newcomer takes the lowest free ones, so shares stay in runs of partitions
      const surplus = [...held.keys()].sort((a, b) => b - a).slice(0, held.size - share);
      await releasePartitions(db, holder, drop(surplus, `share is ${share} of ${count} with ${members} dispatchers`));
    } else if (held.size < share) {
      const free = Array.from({ length: count }, (_, p) => p).filter((p) => !held.has(p)).map(partitionLeaseName);
      const taken = await acquirePartitions(db, holder, free, share - held.size, started, leaseMs);
      if (taken.length > 0) {
        const gained = taken.map((term) => Number(term.name.slice(PARTITION_PREFIX.length)));
        for (const [i, p] of gained.entries()) {
          const took = taken[i] as TakenPartition;
          const since = took.handedOver ? Math.min(started, Math.max(took.previousRenewedMs, started - leaseMs)) : started;
          held.set(p, { term: { name: took.name, epoch: took.epoch }, since });
        }
        logger.info({ partitions: gained.length, held: held.size, members }, 'fire partitions taken');
        listener.gained(gained);
      }
    }
  };

  let loop: Promise<void> | undefined;
  const run = async () => {
    while (!stopped) {
      try {
        await cycle();
      } catch (error) {
        logger.warn({ err: (error as Error).message }, 'fire partition leases: database unreachable; retrying');
      }
      // without a renewal in time, this process no longer knows that it holds anything
      if (!valid() && held.size > 0) drop([...held.keys()], `no renewal succeeded within ${renewDeadlineMs} ms`);
      if (stopped) break;
      await new Promise<void>((resolve) => {
        const timer = clock.setTimeout(resolve, renewMs);
        wake = () => {
          clock.clearTimeout(timer);
          resolve();
        };
      });
    }
  };

  const termOf = (taskId: string) => held.get(partitionOf(taskId, count));

  return {
    ownsTask: (taskId) => termOf(taskId) !== undefined,
    heldSince: (taskId) => termOf(taskId)?.since,
    async fence(tx, taskIds) {
      const terms = new Map<string, PartitionTerm>();
      for (const id of taskIds) {
        const h = termOf(id);
        if (!h || !valid()) throw new LeaseLostError({ name: partitionLeaseName(partitionOf(id, count)), holder, epoch: h?.term.epoch ?? 0 });
        terms.set(h.term.name, h.term);
      }
      // PGlite's session lives in this process: no vanished host can hold it, and its timer would be a real one
      const still = await fencePartitions(tx, holder, [...terms.values()], db.kind === 'pg' ? renewDeadlineMs : undefined);
      if (still.size < terms.size) {
        const gone = [...terms.values()].filter((t) => !still.has(t.name)).map((t) => Number(t.name.slice(PARTITION_PREFIX.length)));
        // the database says another holder has them: given up now, not at the next renewal
        drop(gone.filter((p) => held.get(p)?.term.epoch === terms.get(partitionLeaseName(p))?.epoch), 'taken over (seen by a write)');
        throw new PartitionsLostError(holder, gone);
      }
    },
    held: () => [...held.keys()].sort((a, b) => a - b),
    start() {
      loop ??= run();
    },
    async stop() {
      stopped = true;
      wake();
      await loop;
      const terms = drop([...held.keys()], 'stopping');
      await releasePartitions(db, holder, terms).catch((error: Error) => logger.warn({ err: error.message }, 'releasing fire partitions failed; they expire on their own'));
      await leaveMembers(db, memberName, holder).catch(() => {});
      await hint.release();
    },
  };
}
