import type { Logger } from 'pino';
import type { Db } from '../store/db.ts';
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
}
