import type { Logger } from 'pino';
import type { Db, Queryable } from '../store/index.ts';
import type { QueueProducer } from '../queue/port.ts';
import type { Clock } from '../clock/index.ts';

/**
 * What dispatch code needs from its surroundings. `clock` is the only source of time (timers included);
 * `now` is `clock.now`, kept as a shorthand.
 */
export interface CoreContext {
  db: Db;
  queue: QueueProducer;
  logger: Logger;
  clock: Clock;
  now: () => number;
  /**
   * Set in the leader's context only (leader-work.ts): called first in every transaction that writes a
   * leader's decision (an attempt failed by the reaper, a retry, history pruned); it throws once the term is
   * over, so a woken old leader commits nothing.
   */
  fence?: (tx: Queryable) => Promise<void>;
}
