import type { CancelTarget, Claim, Delivery, QueueConsumer, QueueProducer, RunMessage, StatusEvent, Subscription } from '../../core/queue/port.ts';
import { cancelEntry, drainSignal, drainedWorkers } from '../../core/queue/port.ts';
import type { Prng } from './prng.ts';
import type { VirtualTime } from './virtual-time.ts';

/** Probabilities of broker faults; the world turns them off to settle. */
export interface BrokerFaults {
  /** publish fails and nothing is stored */
  publishFail: number;
  /** publish stores the messages but the answer is lost (the client sends them again: duplicates) */
  publishAmbiguous: number;
  /** a stored run message is delivered twice */
  duplicate: number;
  /** a status publish fails (the worker's outbox retries) or is stored but unanswered */
  statusFail: number;
  statusAmbiguous: number;
  /** a claim request, or its answer, is lost: the worker's claim throws and the message is delivered again */
  claimLost: number;
  claimAnswerLost: number;
  /** most delay of a status event or cancel broadcast, ms */
  maxDelayMs: number;
  /**
   * heartbeats travel on their own stream with their own delay, so one can overtake an earlier outcome
   * (issue 12 defect 1, queue side); off: one FIFO for all of a worker's events
   */
  heartbeatsOvertake: boolean;
  /**
   * claims are decided by the broker itself, as on redis_stream: the first claimer of an attempt takes its
   * claim key and its `started` event goes to the status stream in the same step; a cancel or a withdraw takes
   * the key first. Off: claims are decided by the core on the run's row (rabbitmq).
   */
  brokerClaims: boolean;
  /**
   * every core consumer takes batches of the status stream at once (a consumer group: redis_stream's `core`,
   * rabbitmq's competing consumers), so two batches are applied side by side in any order; off: one batch
   * in flight at a time, in order
   */
  parallelStatus: boolean;
}

export const NO_BROKER_FAULTS: BrokerFaults = {
  publishFail: 0,
  publishAmbiguous: 0,
  duplicate: 0,
  statusFail: 0,
  statusAmbiguous: 0,
  claimLost: 0,
  claimAnswerLost: 0,
  maxDelayMs: 20,
  heartbeatsOvertake: false,
  brokerClaims: false,
  parallelStatus: false,
};

interface Copy {
  seq: number;
  message: RunMessage;
}

interface Pending {
  event: StatusEvent;
  readyAt: number;
  /** on the heartbeat stream (heartbeatsOvertake) rather than the status FIFO */
  beat: boolean;
}

/** how long a claim waits for an answer before the worker gives up (the rabbitmq claim client's deadline) */
const CLAIM_TIMEOUT_MS = 5000;
/** the claim key of an attempt cancelled or withdrawn before any worker took it */
const CANCELLED = 'cancelled';

class SimBrokerError extends Error {}

interface StatusConsumer {
  owner: string;
  handler: (events: StatusEvent[]) => Promise<void>;
  /** the batch handed to it and not yet acked: a consumer that dies has it delivered again */
  busy: Pending[] | undefined;
}

/**
 * A broker with the semantics the queue port allows and no more: at-least-once delivery, duplicates,
 * redelivery of whatever a dead consumer held, delayed and (optionally) reordered status events, claims
 * decided by the core in Postgres (as with rabbitmq) or by the broker (as with redis_stream: brokerClaims).
 * All time is virtual; all choices come from the prng.
 */
export class SimBroker {
  faults: BrokerFaults = { ...NO_BROKER_FAULTS };
  ops = 0;
  /** "runId/attempt" of every successful outcome the broker accepted from a worker */
  readonly acceptedSuccesses = new Set<string>();
  /** claims under way, for the end-of-world report */
  readonly pendingClaims = new Set<string>();
  readonly #time: VirtualTime;
  readonly #prng: Prng;
  readonly #trace: (line: string) => void;
  #seq = 0;
  readonly #queues = new Map<string, Copy[]>();
  readonly #held = new Map<number, { copy: Copy; owner: string }>();
  readonly #waiters = new Set<{ pool: string; wake: () => void }>();
  #status: Pending[] = [];
  /** parallelStatus: batches of dead consumers, delivered again once their readyAt has come */
  #orphans: Pending[] = [];
  #beats: Pending[] = [];
  /** every dispatcher replica consumes status events and serves claims (cli/runtime.ts); one is picked each time */
  #statusConsumers: StatusConsumer[] = [];
  #claimServers: Array<{ owner: string; decide: (claims: Claim[]) => Promise<boolean[]> }> = [];
  readonly #cancelHandlers = new Map<object, { owner: string; handler: (runIds: string[]) => void }>();
  /** brokerClaims: "runId/attempt" to the worker that claimed it, or CANCELLED */
  readonly #claimKeys = new Map<string, string>();
  #pumpArmed = false;

  constructor(time: VirtualTime, prng: Prng, trace: (line: string) => void) {
    this.#time = time;
    this.#prng = prng;
    this.#trace = trace;
  }

  /** a consumer died: what it held unsettled goes back to its queue */
  consumerDied(owner: string): void {
    for (const [seq, held] of [...this.#held]) {
      if (held.owner !== owner) continue;
      this.#held.delete(seq);
      this.#enqueue(held.copy);
    }
    for (const consumer of this.#statusConsumers.filter((c) => c.owner === owner)) this.#unacked(consumer, true);
    this.#statusConsumers = this.#statusConsumers.filter((c) => c.owner !== owner);
    this.#claimServers = this.#claimServers.filter((c) => c.owner !== owner);
  }

  /** messages waiting or held, by pool (for the final checks) */
  waiting(): number {
    let n = this.#held.size;
    for (const queue of this.#queues.values()) n += queue.length;
    return n;
  }

  /** status events not yet applied by the core */
  undelivered(): number {
    return this.#status.length + this.#beats.length + this.#orphans.length;
  }

  /** events other than heartbeats and probes (which are always on their way) not yet applied, in a batch or not */
  undeliveredReports(): number {
    const busy = this.#statusConsumers.flatMap((c) => c.busy ?? []);
    return [...this.#status, ...this.#beats, ...this.#orphans, ...busy].filter((p) => p.event.kind !== 'heartbeat' && p.event.kind !== 'probe').length;
  }

  producer(owner: string): QueueProducer {
    const dead = () => this.#time.isDead(owner);
    // a frozen process sends and hears nothing until it runs again (virtual-time.ts freeze)
    const unfrozen = async () => {
      await this.#time.awake(owner);
      if (dead()) throw new SimBrokerError(`${owner} is dead`);
    };
    return {
      kind: 'rabbitmq',
      publish: async (messages) => {
        this.ops++;
        await unfrozen();
        if (this.#prng.chance(this.faults.publishFail)) {
          this.#trace(`${owner}: publish of ${messages.length} failed (fault)`);
          throw new SimBrokerError('sim: publish failed');
        }
        for (const message of messages) {
          this.#enqueue({ seq: this.#seq++, message });
          if (this.#prng.chance(this.faults.duplicate)) {
            this.#trace(`broker: run ${message.runId}/${message.attempt} duplicated (fault)`);
            this.#enqueue({ seq: this.#seq++, message });
          }
        }
        if (this.#prng.chance(this.faults.publishAmbiguous)) {
          this.#trace(`${owner}: publish of ${messages.length} stored, answer lost (fault)`);
          throw new SimBrokerError('sim: publish confirm lost');
        }
      },
      backlog: async (pool) => {
        this.ops++;
        if (dead()) throw new SimBrokerError(`${owner} is dead`);
        return this.#queues.get(pool)?.length ?? 0;
      },
      consumeStatus: async (handler) => {
        const consumer: StatusConsumer = { owner, handler, busy: undefined };
        this.#statusConsumers.push(consumer);
        this.#armPump(0);
        return { close: async () => void (this.#statusConsumers = this.#statusConsumers.filter((c) => c !== consumer)) };
      },
      serveClaims: async (decide) => {
        const server = { owner, decide };
        this.#claimServers.push(server);
        return { close: async () => void (this.#claimServers = this.#claimServers.filter((c) => c !== server)) };
      },
      publishCancel: async (targets: CancelTarget[]) => {
        this.ops++;
        await unfrozen();
        if (this.faults.brokerClaims) for (const t of targets) this.#takeClaimKey(t, CANCELLED);
        this.#broadcast(targets.map(cancelEntry));
      },
      withdraw: async (targets: CancelTarget[]) => {
        this.ops++;
        await unfrozen();
        if (!this.faults.brokerClaims) return targets;
        return targets.filter((t) => this.#takeClaimKey(t, CANCELLED) === CANCELLED);
      },
      publishDrain: async (workerId) => {
        this.ops++;
        this.#broadcast([drainSignal(workerId)]);
      },
      // down the heartbeats' path, with their delays and faults
      probeStatus: async (at) => {
        this.ops++;
        await unfrozen();
        if (this.#prng.chance(this.faults.statusFail)) {
          this.#trace(`${owner}: status probe failed (fault)`);
          throw new SimBrokerError('sim: status probe failed');
        }
        this.#sendStatus({ kind: 'probe', at });
      },
      ping: async () => {
        if (dead()) throw new SimBrokerError(`${owner} is dead`);
      },
      close: async () => {},
    };
  }

  #sendStatus(event: StatusEvent): void {
    const beat = event.kind === 'heartbeat' || event.kind === 'probe';
    // with heartbeatsOvertake the status stream lags more (a backlog), so a later heartbeat can land first
    const lag = this.faults.heartbeatsOvertake && !beat ? 4 : 1;
    const readyAt = this.#time.now + this.#prng.int(0, this.faults.maxDelayMs * lag);
    if (beat && this.faults.heartbeatsOvertake) this.#beats.push({ event, readyAt, beat: true });
    else this.#status.push({ event, readyAt: Math.max(readyAt, this.#status[this.#status.length - 1]?.readyAt ?? 0), beat: false });
    this.#armPump(readyAt - this.#time.now);
  }

  consumer(owner: string): QueueConsumer {
    const dead = () => this.#time.isDead(owner);
    const never = <T>() => new Promise<T>(() => {});
    const unfrozen = async () => {
      await this.#time.awake(owner);
    };
    return {
      kind: 'rabbitmq',
      receive: async (pool, { max, waitMs, signal }) => {
        this.ops++;
        await unfrozen();
        if (dead()) return never();
        let taken = this.#take(pool, max, owner);
        if (taken.length === 0 && waitMs > 0 && !signal?.aborted) {
          await new Promise<void>((resolve) => {
            const waiter = { pool, wake: () => done() };
            const timer = this.#time.schedule(owner, waitMs, () => done());
            const done = () => {
              timer.cancelled = true;
              this.#waiters.delete(waiter);
              signal?.removeEventListener('abort', done);
              resolve();
            };
            this.#waiters.add(waiter);
            signal?.addEventListener('abort', done, { once: true });
          });
          if (dead()) return never();
          taken = signal?.aborted ? [] : this.#take(pool, max, owner);
        }
        return taken.map((copy) => this.#delivery(copy, owner));
      },
      publishStatus: async (events) => {
        this.ops++;
        await unfrozen();
        if (dead()) return never();
        if (this.#prng.chance(this.faults.statusFail)) {
          this.#trace(`${owner}: status publish failed (fault)`);
          throw new SimBrokerError('sim: status publish failed');
        }
        for (const event of events) {
          if (event.kind === 'finished' && event.status === 'succeeded') this.acceptedSuccesses.add(`${event.runId}/${event.attempt}`);
          this.#sendStatus(event);
        }
        if (this.#prng.chance(this.faults.statusAmbiguous)) {
          this.#trace(`${owner}: status publish stored, answer lost (fault)`);
          throw new SimBrokerError('sim: status confirm lost');
        }
      },
      onCancel: async (handler): Promise<Subscription> => {
        const key = {};
        this.#cancelHandlers.set(key, { owner, handler });
        return { close: async () => void this.#cancelHandlers.delete(key) };
      },
      onDrain: async (handler): Promise<Subscription> => {
        const key = {};
        this.#cancelHandlers.set(key, { owner, handler: (ids) => drainedWorkers(ids).forEach((id) => handler(id)) });
        return { close: async () => void this.#cancelHandlers.delete(key) };
      },
      ping: async () => {},
      close: async () => this.consumerDied(owner),
    };
  }

  #enqueue(copy: Copy): void {
    const queue = this.#queues.get(copy.message.pool) ?? [];
    queue.push(copy);
    queue.sort((a, b) => b.message.priority - a.message.priority || a.seq - b.seq);
    this.#queues.set(copy.message.pool, queue);
    for (const waiter of [...this.#waiters]) if (waiter.pool === copy.message.pool) waiter.wake();
  }

  #take(pool: string, max: number, owner: string): Copy[] {
    const queue = this.#queues.get(pool) ?? [];
    const taken = queue.splice(0, Math.max(0, max));
    for (const copy of taken) this.#held.set(copy.seq, { copy, owner });
    return taken;
  }

  #requeue(copy: Copy): void {
    if (!this.#held.delete(copy.seq)) return;
    this.#enqueue(copy);
  }

  #delivery(copy: Copy, owner: string): Delivery {
    return {
      message: copy.message,
      claim: async (workerId) => {
        const { runId, attempt } = copy.message;
        this.pendingClaims.add(`${runId}/${attempt} by ${workerId}`);
        try {
          return await this.#claim(copy, owner, workerId);
        } finally {
          this.pendingClaims.delete(`${runId}/${attempt} by ${workerId}`);
        }
      },
    };
  }

  /** SET NX: answers who holds the key afterwards */
  #takeClaimKey(target: { runId: string; attempt: number }, holder: string): string {
    const key = `${target.runId}/${target.attempt}`;
    const now = this.#claimKeys.get(key) ?? holder;
    this.#claimKeys.set(key, now);
    return now;
  }

  /**
   * brokerClaims (redis_stream's claim script): the copy is settled, the key taken if free and the `started`
   * event appended, all in one step; the winner asking again is answered yes. A lost request changes nothing
   * and the copy is delivered again; a lost answer leaves the step done.
   */
  async #brokerClaim(copy: Copy, owner: string, workerId: string): Promise<boolean> {
    const { runId, attempt } = copy.message;
    await new Promise<void>((resolve) => this.#time.schedule(owner, this.#prng.int(0, 5), resolve));
    const fail = async (why: string, requeue: boolean): Promise<never> => {
      await new Promise<void>((resolve) => this.#time.schedule(owner, CLAIM_TIMEOUT_MS, resolve));
      this.#trace(`broker: claim of ${runId}/${attempt} by ${workerId}: ${why}`);
      if (requeue) this.#requeue(copy);
      throw new SimBrokerError(`sim: claim ${why}`);
    };
    if (this.#time.isDead(owner)) return new Promise<boolean>(() => {});
    if (this.#prng.chance(this.faults.claimLost)) return fail('request lost (fault); delivered again', true);
    this.#held.delete(copy.seq);
    const holder = this.#takeClaimKey(copy.message, workerId);
    const granted = holder === workerId;
    if (granted) this.#sendStatus({ kind: 'started', runId, attempt, workerId, at: new Date(this.#time.now).toISOString() });
    this.#trace(`broker: claim of ${runId}/${attempt} by ${workerId}: ${granted ? 'granted' : `refused (${holder})`}`);
    await this.#time.awake(owner);
    if (this.#time.isDead(owner)) return new Promise<boolean>(() => {});
    if (this.#prng.chance(this.faults.claimAnswerLost)) return fail(`answer (${granted}) lost (fault)`, false);
    return granted;
  }

  async #claim(copy: Copy, owner: string, workerId: string): Promise<boolean> {
        if (this.faults.brokerClaims) return this.#brokerClaim(copy, owner, workerId);
        const { runId, attempt } = copy.message;
        const servers = this.#claimServers.filter((c) => !this.#time.isDead(c.owner));
        const server = servers.length > 0 ? servers[this.#prng.int(0, servers.length - 1)] : undefined;
        const fail = async (why: string): Promise<never> => {
          await new Promise<void>((resolve) => this.#time.schedule(owner, CLAIM_TIMEOUT_MS, resolve));
          this.#trace(`broker: claim of ${runId}/${attempt} by ${workerId}: ${why}; delivered again`);
          this.#requeue(copy);
          throw new SimBrokerError(`sim: claim ${why}`);
        };
        if (!server) return fail('no claim server');
        if (this.#prng.chance(this.faults.claimLost)) return fail('request lost (fault)');
        let granted: boolean;
        try {
          // the worker waits no longer than its claim deadline: a claim server that died (or froze) while
          // deciding never answers; its decision may still commit, which the abandoned list then settles
          const answer = await new Promise<boolean[] | 'timeout'>((resolve, reject) => {
            const timer = this.#time.schedule(owner, CLAIM_TIMEOUT_MS, () => resolve('timeout'));
            server.decide([{ runId, attempt, workerId }]).then(
              (decided) => ((timer.cancelled = true), resolve(decided)),
              (error: unknown) => ((timer.cancelled = true), reject(error)),
            );
          });
          if (answer === 'timeout') {
            this.#trace(`broker: claim of ${runId}/${attempt} by ${workerId}: no answer within ${CLAIM_TIMEOUT_MS} ms; delivered again`);
            this.#requeue(copy);
            throw new SimBrokerError('sim: claim timed out');
          }
          granted = answer[0] === true;
        } catch (error) {
          if (error instanceof SimBrokerError) throw error;
          return fail('decision failed');
        }
        await this.#time.awake(owner);
        if (this.#time.isDead(owner)) {
          this.#requeue(copy);
          return new Promise<boolean>(() => {});
        }
        if (this.#prng.chance(this.faults.claimAnswerLost)) return fail(`answer (${granted}) lost (fault)`);
        this.#held.delete(copy.seq);
        return granted;
  }

  #broadcast(ids: string[]): void {
    for (const { owner, handler } of this.#cancelHandlers.values()) {
      const delay = this.#prng.int(0, this.faults.maxDelayMs);
      // on the listener's own timeline: a frozen process hears it when it runs again, a dead one never
      this.#time.schedule(owner, delay, () => {
        if (!this.#time.isDead(owner)) handler(ids);
      });
    }
  }

  #armPump(delayMs: number): void {
    if (this.#pumpArmed) return;
    this.#pumpArmed = true;
    this.#time.schedule('broker', Math.max(0, delayMs), () => {
      this.#pumpArmed = false;
      this.#pump();
    });
  }

  /**
   * A consumer's batch goes back, in order, ahead of what came after it. In a consumer group a dead consumer's
   * batch waits for its idle time before another takes it (redis_stream's XAUTOCLAIM), while later events
   * flow on: those may be applied first.
   */
  #unacked(consumer: StatusConsumer, died = false): void {
    const batch = consumer.busy;
    consumer.busy = undefined;
    if (!batch) return;
    if (died && this.faults.parallelStatus) {
      const readyAt = this.#time.now + this.#prng.int(1000, 30_000);
      this.#orphans.push(...batch.map((p) => ({ ...p, readyAt })));
      this.#armPump(readyAt - this.#time.now);
      return;
    }
    this.#status.unshift(...batch.filter((p) => !p.beat));
    this.#beats.unshift(...batch.filter((p) => p.beat));
    this.#armPump(500);
  }

  /** hands ready status events to the core in order; they are acked only once its handler resolved */
  #pump(): void {
    if (!this.faults.parallelStatus) {
      // one batch in flight at a time, in order
      if (this.#statusConsumers.some((c) => c.busy)) return;
      const ready = this.#statusConsumers.filter((c) => !this.#time.isDead(c.owner));
      const consumer = ready.length > 0 ? ready[this.#prng.int(0, ready.length - 1)] : undefined;
      if (consumer) this.#handOut(consumer);
      return;
    }
    // a consumer group: each idle consumer takes the next batch, and the batches are applied side by side
    const idle = this.#statusConsumers.filter((c) => !c.busy && !this.#time.isDead(c.owner));
    while (idle.length > 0) {
      const [consumer] = idle.splice(this.#prng.int(0, idle.length - 1), 1);
      if (!consumer || !this.#handOut(consumer)) return;
    }
  }

  /** hands the next ready batch to this consumer; false when nothing was ready */
  #handOut(consumer: StatusConsumer): boolean {
    const now = this.#time.now;
    const batch: Pending[] = this.#orphans.filter((p) => p.readyAt <= now).slice(0, 50);
    this.#orphans = this.#orphans.filter((p) => !batch.includes(p));
    while (batch.length < 50 && this.#status[0] && this.#status[0].readyAt <= now) batch.push(this.#status.shift() as Pending);
    const beats = this.#beats.filter((p) => p.readyAt <= now).slice(0, 50);
    this.#beats = this.#beats.filter((p) => !beats.includes(p));
    batch.push(...beats);
    const later = [...this.#status, ...this.#beats, ...this.#orphans].map((p) => p.readyAt);
    if (batch.length === 0) {
      if (later.length > 0) this.#armPump(Math.min(...later) - now);
      return false;
    }
    consumer.busy = batch;
    this.ops++;
    consumer.handler(batch.map((p) => p.event)).then(
      () => {
        if (consumer.busy !== batch) return;
        consumer.busy = undefined;
        this.#armPump(0);
      },
      () => {
        // not acked: delivered again, in order, after a pause
        if (consumer.busy === batch) this.#unacked(consumer);
      },
    );
    return true;
  }
}
