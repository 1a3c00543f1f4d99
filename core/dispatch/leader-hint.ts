import type { Db, SessionLock } from '../store/index.ts';

/** advisory lock key of the leader's liveness hint ("hglh" folded into 31 bits) */
export const LEADER_HINT_KEY = 0x68676c68;

/**
 * A lease holder's liveness hint: a session advisory lock on a connection of its own. When a standby can
 * take it, the holder's session is gone (a `kill -9` closed its socket), so the standby may take the lease
 * at once instead of waiting for the expiry. Only a hint: a holder that is in fact alive loses its lease
 * early and its writes are refused by the fence, exactly as after any takeover. A holder whose host
 * vanished keeps the lock (Postgres never noticed): then the lease's expiry decides, as without the hint.
 * PGlite has one process and no hint.
 */
export class LivenessHint {
  readonly #db: Db;
  readonly #key: number;
  #lock: SessionLock | undefined;
  #trying = false;
  #released = false;

  /** `key`: the advisory lock of this holder (the leader's by default; each dispatcher member has its own) */
  constructor(db: Db, key: number = LEADER_HINT_KEY) {
    this.#db = db;
    this.#key = key;
  }

  get held(): boolean {
    return this.#lock !== undefined;
  }

  /** Tries once, without waiting for a holder; true when this process holds the hint now. */
  async take(): Promise<boolean> {
    if (this.#lock || this.#trying || this.#released || this.#db.kind !== 'pg') return this.held;
    this.#trying = true;
    try {
      const lock = await this.#db.tryLock(this.#key);
      // released while trying: the term is over, the lock must not outlive it
      if (lock && this.#released) await lock.release();
      else if (lock) {
        this.#lock = lock;
        void lock.lost.then(() => {
          if (this.#lock === lock) this.#lock = undefined;
        });
      }
    } catch {
      // the database is unreachable: no hint this time, the lease still works
    } finally {
      this.#trying = false;
    }
    return this.held;
  }

  /** gives the hint up for good (the term is over); a take() in flight releases what it gets */
  async release(): Promise<void> {
    this.#released = true;
    const lock = this.#lock;
    this.#lock = undefined;
    await lock?.release().catch(() => {});
  }
}
