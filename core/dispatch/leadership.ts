import type { Logger } from 'pino';
import type { Db } from '../store/db.ts';

/** advisory lock key of the dispatcher leader ("hgleader" folded into 31 bits) */
export const LEADER_LOCK_KEY = 0x68676c64;

export interface Leadership {
  isLeader(): boolean;
  stop(): Promise<void>;
}

/**
 * One dispatcher leads at a time through a session advisory lock; the others retry every `retryMs` and
 * take over within about that long after the leader's connection dies. While leading, `lead()` runs and
 * returns the function that stops its work, called when the lock is lost or on shutdown.
 */
export function holdLeadership(db: Db, logger: Logger, lead: () => Promise<() => Promise<void>>, retryMs = 1000): Leadership {
  let leader = false;
  let stopped = false;
  let wake: () => void = () => {};
  const loop = (async () => {
    while (!stopped) {
      let lock = null;
      try {
        lock = await db.tryLock(LEADER_LOCK_KEY);
      } catch (error) {
        logger.warn({ err: (error as Error).message }, 'leader election: database unreachable; retrying');
      }
      if (!lock) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, retryMs);
        });
        continue;
      }
      leader = true;
      logger.info('became the dispatcher leader');
      let stopWork: (() => Promise<void>) | undefined;
      try {
        stopWork = await lead();
        await Promise.race([lock.lost, new Promise<void>((resolve) => (wake = resolve))]);
      } catch (error) {
        logger.error({ err: (error as Error).message }, 'leader work failed to start; giving up leadership');
      }
      leader = false;
      await stopWork?.().catch((error: Error) => logger.error({ err: error.message }, 'stopping leader work failed'));
      await lock.release();
      if (!stopped) {
        logger.warn('lost dispatcher leadership; standing by');
        await new Promise((resolve) => setTimeout(resolve, retryMs));
      }
    }
  })();
  return {
    isLeader: () => leader,
    async stop() {
      stopped = true;
      wake();
      await loop;
    },
  };
}
