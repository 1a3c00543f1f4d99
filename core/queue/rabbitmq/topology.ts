/**
 * Topology, per namespace `ns` (QueueNames.namespace), all durable. Everything an installation shares with
 * its workers carries its task queue name, so installations on one broker stay apart by their queue names:
 * a claim must be answered by the database that queued the run, a cancel reach only its own workers.
 * - queue `${ns}.${taskQueue}.${pool}`   run messages; x-max-priority 10, x-dead-letter-exchange `${ns}.${taskQueue}.dead`
 * - exchange `${ns}.${taskQueue}.dead` (fanout) -> queue of the same name   dead-lettered run messages
 * - queue `${ns}.${taskQueue}.claims`     claim RPCs, answered by the core (producer.serveClaims)
 * - queues `${ns}.${statusQueue}`, `${ns}.${heartbeatQueue}`   status / heartbeat events to the core
 * - exchange `${ns}.${taskQueue}.cancel` (fanout)   cancels; each consumer binds an exclusive auto-delete queue
 */
import type { Channel } from 'amqplib';
import type { QueueNames } from '../port.ts';

export class Names {
  readonly n: QueueNames;
  constructor(names: QueueNames) {
    this.n = names;
  }
  pool(pool: string): string {
    return `${this.n.namespace}.${this.n.taskQueue}.${pool}`;
  }
  get deadExchange(): string {
    return `${this.n.namespace}.${this.n.taskQueue}.dead`;
  }
  get deadQueue(): string {
    return `${this.n.namespace}.${this.n.taskQueue}.dead`;
  }
  get claims(): string {
    return `${this.n.namespace}.${this.n.taskQueue}.claims`;
  }
  get status(): string {
    return `${this.n.namespace}.${this.n.statusQueue}`;
  }
  get heartbeat(): string {
    return `${this.n.namespace}.${this.n.heartbeatQueue}`;
  }
  get cancel(): string {
    return `${this.n.namespace}.${this.n.taskQueue}.cancel`;
  }
  /** Every declaration of a pool queue must use these arguments, or the broker closes the channel. */
  poolQueueOptions(): { durable: true; arguments: Record<string, unknown> } {
    return { durable: true, arguments: { 'x-max-priority': 10, 'x-dead-letter-exchange': this.deadExchange } };
  }
}

/** Everything but the pool queues, which are declared on first use. Idempotent: run on every (re)connect. */
export async function declareTopology(ch: Channel, names: Names): Promise<void> {
  await ch.assertExchange(names.deadExchange, 'fanout', { durable: true });
  await ch.assertQueue(names.deadQueue, { durable: true });
  await ch.bindQueue(names.deadQueue, names.deadExchange, '');
  await ch.assertExchange(names.cancel, 'fanout', { durable: true });
  await ch.assertQueue(names.claims, { durable: true });
  await ch.assertQueue(names.status, { durable: true });
  await ch.assertQueue(names.heartbeat, { durable: true });
}
