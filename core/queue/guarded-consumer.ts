/**
 * The queue layer every worker receives through, whatever the backend (factory.ts wraps each consumer):
 * - claims are tracked in a ClaimLedger and heartbeats carry the attempts given up on (`abandoned`);
 * - heartbeats carry this process's incarnation, so the core can tell two workers sharing one worker id
 *   apart and tell the second to drain (a drain addressed to another incarnation is ignored here);
 * - heartbeats and outcomes are signed with a key made by this process, whose public half its heartbeats
 *   carry: the core accepts a live worker's heartbeats and outcomes only under that key;
 * - run messages are verified (`verify`) before the worker sees them; one that fails is dropped with the
 *   reason and never claimed (the broker copy is settled so it is not delivered again).
 */
import { randomUUID } from 'node:crypto';
import { ClaimLedger } from './claim-ledger.ts';
import type { Delivery, QueueConsumer, RunMessage, StatusEvent } from './port.ts';
import { parseDrainTarget, WorkerKey } from './worker-identity.ts';

export interface GuardOptions {
  /** answers why a message must not run, or undefined when it may (signature checks: run-signing.ts) */
  verify?: (delivery: Delivery) => string | undefined;
  /** told about every message refused by `verify` */
  onRejected?: (message: RunMessage, reason: string) => void;
  incarnation?: string;
}

export interface GuardedConsumer extends QueueConsumer {
  readonly incarnation: string;
  readonly ledger: ClaimLedger;
}

export function guardConsumer(inner: QueueConsumer, options: GuardOptions = {}): GuardedConsumer {
  const ledger = new ClaimLedger();
  const incarnation = options.incarnation ?? randomUUID();
  const key = new WorkerKey();

  async function receive(...args: Parameters<QueueConsumer['receive']>): Promise<Delivery[]> {
    const deliveries = await inner.receive(...args);
    const accepted: Delivery[] = [];
    for (const delivery of deliveries) {
      const problem = options.verify?.(delivery);
      if (problem === undefined) {
        accepted.push(ledger.guard(delivery));
        continue;
      }
      options.onRejected?.(delivery.message, problem);
      // Settle the copy without running it: a claim under a worker id no attempt can belong to. Where the
      // claim is decided by the run that exists (postgres, rabbitmq) this changes nothing; on redis_stream the
      // forged attempt's claim key is taken, so no other worker runs it either.
      await delivery.claim(REJECTED_CLAIMANT).catch(() => false);
    }
    return accepted;
  }

  // heartbeats and outcomes are signed with this process's own key (worker-identity.ts)
  function stamp(events: StatusEvent[]): StatusEvent[] {
    const abandoned = ledger.list();
    return events.map((event) => {
      if (event.kind === 'heartbeat') return key.sign({ ...event, incarnation, workerKey: key.publicKey, ...(abandoned.length > 0 ? { abandoned } : {}) });
      if (event.kind === 'finished') return key.sign(event);
      return event;
    });
  }

  return {
    kind: inner.kind,
    incarnation,
    ledger,
    receive,
    publishStatus: (events) => inner.publishStatus(stamp(events)),
    onCancel: (handler) => inner.onCancel(handler),
    onDrain: (handler) =>
      inner.onDrain((target) => {
        const { workerId, incarnation: addressed } = parseDrainTarget(target);
        if (addressed === undefined || addressed === incarnation) handler(workerId);
      }),
    ping: () => inner.ping(),
    close: () => inner.close(),
  };
}

/** the claimant of messages a worker refused to run; no worker id may take this value */
export const REJECTED_CLAIMANT = '#rejected';
