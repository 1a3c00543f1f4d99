import type { QueueNames } from '../port.ts';

export interface RabbitQueueOptions {
  url: string;
  names: QueueNames;
  /** least prefetch of a worker's pool consumer; the effective one is max(receive max, prefetch). Default 10 */
  prefetch?: number;
  /** how long claim() waits for the core's answer before throwing. Default 10000 */
  claimTimeoutMs?: number;
  /**
   * how long a call (publish, publishStatus, backlog, ...) waits for the broker while disconnected before it
   * rejects; reconnecting goes on in the background. Default 5000
   */
  unavailableTimeoutMs?: number;
}
