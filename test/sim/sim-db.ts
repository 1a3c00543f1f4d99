import type { Db, Queryable, Transaction } from '../../core/store/db.ts';
import type { Prng } from './prng.ts';
import type { VirtualTime } from './virtual-time.ts';

/** Probabilities of database faults, per round trip; the world turns them off to settle. */
export interface DbFaults {
  /** a statement fails before it reaches the database (connection reset) */
  failQuery: number;
  /** a transaction fails at COMMIT: everything in it rolls back */
  failCommit: number;
  /** a transaction commits but the client sees an error (the connection died after COMMIT) */
  failAfterCommit: number;
  /** a statement outside a transaction hangs for hangMs[0] to hangMs[1] virtual ms before it runs */
  hang: number;
  hangMs: [number, number];
  /** a NOTIFY is lost on its way to a listener (a LISTEN connection that reconnected) */
  loseNotify: number;
}

export const NO_DB_FAULTS: DbFaults = { failQuery: 0, failCommit: 0, failAfterCommit: 0, hang: 0, hangMs: [0, 0], loseNotify: 0 };

/** every database fault of the simulator is a broken connection, as node-postgres reports a reset socket */
class SimDbError extends Error {
  readonly code = 'ECONNRESET';
}

/** when the server ends the open transaction of a process that died: the fences' idle timeout, half the lease */
const SESSION_END_AFTER_DEATH_MS = 2500;

/**
 * The one real database (PGlite) as each simulated process sees it: its own faults, and nothing at all
 * once the process is dead (every call rejects, so an open transaction rolls back as Postgres would do it
 * for a dropped connection). Counts round trips for the driver's idle test.
 */
export class SimDatabase {
  faults: DbFaults = { ...NO_DB_FAULTS };
  ops = 0;
  inflight = 0;
  readonly #unlisten: Array<() => Promise<void>> = [];
  /** round trips by statement (SIM_COUNT_SQL=1), to see where a seed's time goes */
  readonly bySql = new Map<string, number>();
  readonly #inner: Db;
  readonly #time: VirtualTime;
  readonly #prng: Prng;
  readonly #trace: (line: string) => void;

  constructor(inner: Db, time: VirtualTime, prng: Prng, trace: (line: string) => void) {
    this.#inner = inner;
    this.#time = time;
    this.#prng = prng;
    this.#trace = trace;
  }

  /** the world ended: no listener of it may hear the next world's notifications */
  async closeListeners(): Promise<void> {
    for (const stop of this.#unlisten.splice(0)) await stop().catch(() => {});
  }

  /**
   * PGlite has one session, which a transaction holds until it ends: a fire prepared ahead holds it until the
   * fire's time (dispatcher.fire_lead_ms), which comes only as virtual time moves. So every statement waits
   * for the session here, in plain sight, not inside PGlite: a waiter is not a round trip in flight, the world
   * counts as idle, and time moves on to the holder's timer.
   */
  #session: Promise<void> = Promise.resolve();
  #held = 0;

  /** whether a transaction (or statement) holds the one session now */
  get sessionHeld(): boolean {
    return this.#held > 0;
  }

  async #exclusive<T>(work: () => Promise<T>): Promise<T> {
    const before = this.#session;
    let release!: () => void;
    this.#session = new Promise<void>((resolve) => (release = resolve));
    await before;
    this.#held++;
    try {
      return await work();
    } finally {
      this.#held--;
      release();
    }
  }

  /**
   * A transaction whose process died is ended by the server, as Postgres ends the session of a dropped or
   * silent client (idle_in_transaction_session_timeout, half the lease): without this, one that waited on a
   * timer of its dead process (a fire prepared ahead) would hold PGlite's one session for ever.
   */
  async #endsWith<T>(owner: string, work: Promise<T>): Promise<T> {
    let forget = () => {};
    const ended = new Promise<never>((_, reject) => {
      forget = this.#time.onDeath(owner, () => {
        this.#time.schedule('db', SESSION_END_AFTER_DEATH_MS, () => reject(new SimDbError(`${owner} is dead: the server ended its transaction`)));
      });
    });
    ended.catch(() => {});
    try {
      return await Promise.race([work, ended]);
    } finally {
      forget();
    }
  }

  /** the database without faults, for the world's own probes; it waits for the session like everyone */
  get raw(): Db {
    const inner = this.#inner;
    return {
      kind: inner.kind,
      query: (sql, params) => this.#exclusive(() => inner.query(sql, params)),
      exec: (sql) => this.#exclusive(() => inner.exec(sql)),
      transaction: (work) => this.#exclusive(() => inner.transaction(work)),
      listen: (channel, onNotify) => inner.listen(channel, onNotify),
      tryLock: (key) => inner.tryLock(key),
      close: () => inner.close(),
    };
  }

  view(owner: string): Db {
    const alive = () => {
      if (this.#time.isDead(owner)) throw new SimDbError(`${owner} is dead`);
    };
    const run = async <T>(work: () => Promise<T>, sql = ''): Promise<T> => {
      if (process.env.SIM_COUNT_SQL) this.bySql.set(summary(sql), (this.bySql.get(summary(sql)) ?? 0) + 1);
      this.ops++;
      this.inflight++;
      try {
        return await work();
      } finally {
        this.inflight--;
        this.ops++;
      }
    };
    // A frozen process sends nothing and hears its answers only once it runs again. Only between
    // transactions: PGlite has one session, so a transaction held open by a frozen process would stop the
    // whole world (Postgres ends such a session: idle_in_transaction_session_timeout, leases.ts).
    const unfrozen = async () => {
      await this.#time.awake(owner);
      alive();
    };
    const query = async <Row>(sql: string, params?: unknown[]) => {
      await unfrozen();
      if (this.#prng.chance(this.faults.failQuery)) {
        this.#trace(`${owner}: query failed (fault): ${summary(sql)}`);
        throw new SimDbError('sim: connection reset');
      }
      if (this.#prng.chance(this.faults.hang)) {
        const ms = this.#prng.int(this.faults.hangMs[0], this.faults.hangMs[1]);
        this.#trace(`${owner}: query hangs ${ms} ms (fault): ${summary(sql)}`);
        await new Promise<void>((resolve) => this.#time.schedule('db', ms, resolve));
        alive();
      }
      const result = await this.#exclusive(() => run(() => this.#inner.query<Row>(sql, params), sql));
      await unfrozen();
      return result;
    };
    const inTx = (tx: Transaction): Transaction => ({
      query: async <Row>(sql: string, params?: unknown[]) => {
        alive();
        if (this.#prng.chance(this.faults.failQuery)) {
          this.#trace(`${owner}: query in transaction failed (fault): ${summary(sql)}`);
          throw new SimDbError('sim: connection reset');
        }
        return run(() => tx.query<Row>(sql, params), sql);
      },
      exec: async (sql: string) => {
        alive();
        await run(() => tx.exec(sql));
      },
    });
    return {
      kind: 'pglite',
      query,
      exec: async (sql) => {
        alive();
        await this.#exclusive(() => run(() => this.#inner.exec(sql)));
      },
      transaction: async <T>(work: (tx: Transaction) => Promise<T>): Promise<T> => {
        await unfrozen();
        const result = await this.#exclusive(() =>
          this.#inner.transaction(async (tx) => {
            const value = await this.#endsWith(owner, work(inTx(tx)));
            alive();
            if (this.#prng.chance(this.faults.failCommit)) {
              this.#trace(`${owner}: COMMIT failed, rolled back (fault)`);
              throw new SimDbError('sim: commit failed');
            }
            return value;
          }),
        );
        if (this.#prng.chance(this.faults.failAfterCommit)) {
          this.#trace(`${owner}: committed, but the answer was lost (fault)`);
          throw new SimDbError('sim: connection lost after commit');
        }
        await unfrozen();
        return result;
      },
      listen: async (channel, onNotify) => {
        alive();
        const stop = await this.#inner.listen(channel, (payload) => {
          if (this.#time.isDead(owner)) return;
          if (this.#prng.chance(this.faults.loseNotify)) {
            this.#trace(`${owner}: NOTIFY ${channel} lost (fault)`);
            return;
          }
          const waking = this.#time.awake(owner);
          if (waking) void waking.then(() => this.#time.isDead(owner) || onNotify(payload));
          else onNotify(payload);
        });
        this.#unlisten.push(stop);
        return stop;
      },
      tryLock: (key) => this.#inner.tryLock(key),
      async close() {},
    };
  }
}

function summary(sql: string): string {
  return sql.replace(/\s+/g, ' ').trim().slice(0, 60);
}

export type { Queryable };
