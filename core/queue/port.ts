/**
 * The queue port. The core (dispatcher, API) is the producer of run messages and the consumer of
 * status events; workers are the reverse. Three adapters implement it: postgres, redis_stream, rabbitmq.
 *
 * Invariants every adapter keeps (the contract suite in test/integration/queue-contract.test.ts checks them):
 * - publish() resolves only once the broker holds the messages durably (publisher confirms, XADD reply).
 * - Delivery is at least once. A worker executes an attempt only after delivery.claim() returned true,
 *   and claim() returns true to at most one worker per (runId, attempt), ever; that worker may be answered
 *   true again (a claim re-sent after a lost answer, a second copy), and never starts an attempt twice.
 * - claim() settles the broker message (acked) whatever it returns; if claim() throws, the message stays
 *   with the broker and is delivered again (to this or another worker).
 * - A granted claim also records that the attempt started, on this worker (postgres: the dequeue sets it
 *   running; redis_stream: the claim script adds a `started` event; rabbitmq: the core decides the claim in
 *   Postgres). A worker that dies right after a claim therefore leaves a running attempt for the reaper.
 * - A message that cannot be parsed is dead-lettered with a reason and never reaches the worker.
 * - Within a pool, higher priority is received first when both are waiting.
 */

/** Everything a worker needs to execute one attempt; workers of broker backends never read the database. */
export interface RunMessage {
  runId: string;
  attempt: number;
  taskId: string;
  taskName: string;
  pool: string;
  priority: number;
  type: string;
  /** the executor block of the task spec: { shell } | { http } | { params } */
  spec: { shell?: unknown; http?: unknown; params?: Record<string, unknown> };
  timeoutSeconds: number;
  shard: number;
  shardTotal: number;
  scheduledTime: string;
  /**
   * Ed25519 signature of the core over every other field (run-signing.ts), added by the producer when
   * message_queue.signing has a secret key; a worker with the public key runs only messages that verify.
   */
  signature?: string;
}

export type FinishedStatus = 'succeeded' | 'failed' | 'timed_out' | 'cancelled';

export type StatusEvent =
  | { kind: 'started'; runId: string; attempt: number; workerId: string; at: string }
  | {
      kind: 'finished';
      runId: string;
      attempt: number;
      workerId: string;
      at: string;
      status: FinishedStatus;
      exitCode?: number | null;
      httpStatus?: number | null;
      error?: string | null;
      output?: string | null;
      /** false: running the attempt again cannot help (invalid spec, unknown type); the core does not retry it */
      retryable?: boolean;
      /** the worker process's Ed25519 signature of the event (worker-identity.ts), checked against its heartbeat's key */
      sig?: string;
    }
  /** `at`: when the worker read the chunk from the task (older workers leave it out: the write time is used) */
  | { kind: 'log'; runId: string; attempt: number; seq: number; stream: 'stdout' | 'stderr'; chunk: string; at?: string }
  | {
      kind: 'heartbeat';
      workerId: string;
      pool: string;
      taskTypes: string[];
      concurrency: number;
      activeRuns: number;
      status: 'ALIVE' | 'DRAINING' | 'DOWN';
      hostname: string;
      version: string;
      startedAt: string;
      at: string;
      /** the attempts this worker is executing, as "runId/attempt" */
      held?: string[];
      /**
       * Attempts whose claim this worker asked for and gave up on without learning the answer (a lost reply,
       * a timeout), as "runId/attempt". Filled in by the queue layer (claim-ledger.ts), which guarantees the
       * worker never executes them: the core may fail such an attempt at once, as no outcome of it can be in
       * flight. An attempt merely missing from `held` proves nothing (its outcome may still be on its way).
       */
      abandoned?: string[];
      /** a random id per worker process (guarded-consumer.ts): two processes sharing one worker id differ here */
      incarnation?: string;
      /** the public key (base64 SPKI DER) this worker process signs its heartbeats and outcomes with */
      workerKey?: string;
      sig?: string;
    }
  /**
   * Published by the leader's reaper on the heartbeat path (reaper.ts): once applied, every heartbeat that
   * went before it has been applied too, so the core counts a worker's silence only up to `at` (the leader's
   * liveness time when it sent it). Unsigned: a forged one can move the proof no later than the applier's
   * own time, which is what the reaper assumed before probes.
   */
  | { kind: 'probe'; at: string };

/** An attempt to cancel: the run, and what a broker needs to refuse its claim (redis_stream). */
export interface CancelTarget {
  runId: string;
  taskId: string;
  attempt: number;
}

export interface Claim {
  runId: string;
  attempt: number;
  workerId: string;
}

export interface Delivery {
  readonly message: RunMessage;
  /** true when this worker now owns the attempt; the broker message is settled either way */
  claim(workerId: string): Promise<boolean>;
}

export interface ReceiveOptions {
  /** most messages to return */
  max: number;
  /** how long to block when nothing is waiting */
  waitMs: number;
  signal?: AbortSignal;
}

export interface Subscription {
  close(): Promise<void>;
}

/** What the core uses. */
export interface QueueProducer {
  readonly kind: QueueKind;
  publish(messages: RunMessage[]): Promise<void>;
  /** runs waiting in a pool's queue, not yet handed to a worker */
  backlog(pool: string): Promise<number>;
  /** delivers status and heartbeat events in batches; they are acked only after the handler resolved */
  consumeStatus(handler: (events: StatusEvent[]) => Promise<void>): Promise<Subscription>;
  /** answers workers' claims where the broker cannot decide them itself (rabbitmq); a no-op elsewhere */
  serveClaims(decide: (claims: Claim[]) => Promise<boolean[]>): Promise<Subscription>;
  /**
   * Cancels these attempts: workers running one abort it, and one still waiting in the queue is refused
   * to whoever receives it (its claim returns false).
   */
  publishCancel(targets: CancelTarget[]): Promise<void>;
  /**
   * Puts these attempts, which the caller's row locks show still waiting, out of every worker's reach before
   * the core forgets them (deletes their rows), and answers those it did. Where the broker decides claims
   * itself (redis_stream) a worker may already hold one whose row still says queued (its `started` event is
   * on its way): that one is not answered, so the caller leaves it to run and to report. Where claims are
   * decided by the row (postgres, rabbitmq) the caller's lock already decides, and every target is answered.
   * An attempt answered here stays refused to every worker even if the caller's transaction then fails; a
   * second call for it answers it again, so the caller can retry.
   */
  withdraw(targets: CancelTarget[]): Promise<CancelTarget[]>;
  /**
   * Tells one worker to drain (stop taking runs, finish what it holds, leave its queue). Rides on the cancel
   * broadcast as the pseudo run id `drain:<workerId>` (drainSignal), which cancel handlers ignore.
   */
  publishDrain(workerId: string): Promise<void>;
  /** sends a status probe down the path the workers' heartbeats take to consumeStatus (the 'probe' event) */
  probeStatus(at: string): Promise<void>;
  /** reachability check for /ready and health */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** What a worker uses. */
export interface QueueConsumer {
  readonly kind: QueueKind;
  receive(pool: string, options: ReceiveOptions): Promise<Delivery[]>;
  publishStatus(events: StatusEvent[]): Promise<void>;
  /** cancel-broadcast entries: "runId/attempt" (cancelEntry), a bare run id from an older core, or a drain signal */
  onCancel(handler: (entries: string[]) => void): Promise<Subscription>;
  /** called with the worker id of each drain request (see publishDrain); the worker checks it is its own */
  onDrain(handler: (workerId: string) => void): Promise<Subscription>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export type QueueKind = 'postgres' | 'redis_stream' | 'rabbitmq';

/** Names of the broker objects; `namespace` keeps tests and installations apart. */
export interface QueueNames {
  namespace: string;
  taskQueue: string;
  statusQueue: string;
  heartbeatQueue: string;
}

const DRAIN_PREFIX = 'drain:';

/**
 * The cancel-broadcast entry of one attempt, "runId/attempt": a worker stops that attempt and no other. A
 * cancel by run id alone stopped whatever attempt of the run a worker ran, so a stale heartbeat's cancel of a
 * settled attempt stopped its retry, for good (cancelled is final).
 */
export function cancelEntry(target: CancelTarget): string {
  return `${target.runId}/${target.attempt}`;
}

/** One entry of a cancel broadcast: an attempt, or (from a core before attempts were named) a whole run. */
export function parseCancelEntry(entry: string): { runId: string; attempt?: number } {
  const slash = entry.indexOf('/');
  if (slash < 0) return { runId: entry };
  return { runId: entry.slice(0, slash), attempt: Number(entry.slice(slash + 1)) };
}

/** The cancel-broadcast entry that asks `workerId` to drain; no run id starts with a letter. */
export function drainSignal(workerId: string): string {
  return `${DRAIN_PREFIX}${workerId}`;
}

/** The worker ids asked to drain among the entries of one cancel broadcast. */
export function drainedWorkers(entries: string[]): string[] {
  return entries.filter((e) => e.startsWith(DRAIN_PREFIX)).map((e) => e.slice(DRAIN_PREFIX.length));
}
