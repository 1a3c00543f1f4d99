import type { Logger } from 'pino';
import type { Db } from '../store/db.ts';
import type { QueueProducer } from '../queue/port.ts';

/** What dispatch code needs from its surroundings; `now` is injectable so tests control time. */
export interface CoreContext {
  db: Db;
  queue: QueueProducer;
  logger: Logger;
  now: () => number;
}
