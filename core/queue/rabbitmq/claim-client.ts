/**
 * The worker's side of the claims RPC (claim-server.ts is the core's): the claims asked in one turn are
 * published as one message to the claims queue with direct reply-to, and the answer (one per claim) is
 * matched back by correlation id.
 */
import { randomUUID } from 'node:crypto';
import type { ConfirmChannel, ConsumeMessage } from 'amqplib';
import { ClaimNotAsked } from '../claim-ledger.ts';
import type { Claim } from '../port.ts';
import type { ConsumerState } from './consumer-state.ts';
import type { Generation } from './link.ts';
import { JSON_TYPE } from './publish.ts';
import type { Names } from './topology.ts';

const REPLY_TO = 'amq.rabbitmq.reply-to';

interface Asked {
  claim: Claim;
  resolve(granted: boolean): void;
  reject(error: Error): void;
}

interface PendingClaim {
  asked: Asked[];
  timer: NodeJS.Timeout;
}

export class ClaimClient {
  readonly #names: Names;
  readonly #timeoutMs: number;
  readonly #state: () => ConsumerState | undefined;
  readonly #pending = new Map<string, PendingClaim>();
  /** claims asked in this turn of the event loop, sent together as one message */
  #gathering: { gen: Generation; asked: Asked[] } | undefined;

  constructor(names: Names, timeoutMs: number, state: () => ConsumerState | undefined) {
    this.#names = names;
    this.#timeoutMs = timeoutMs;
    this.#state = state;
  }

  /** Direct reply-to: the pseudo-queue is consumed (noAck) on the very channel that publishes the claims. */
  async listen(pub: ConfirmChannel): Promise<void> {
    await pub.consume(REPLY_TO, (msg) => this.#onReply(msg), { noAck: true });
  }

  /**
   * Asks the core; rejects when no answer comes within claimTimeoutMs or the connection is lost first.
   * The claims of one receive are asked in the same turn and travel as one message with one answer, so a
   * batch of deliveries costs one round trip and two broker messages instead of two per delivery.
   */
  ask(gen: Generation, claim: Claim): Promise<boolean> {
    const state = this.#state();
    if (!state || state.gen !== gen || gen.dead) return Promise.reject(new ClaimNotAsked('rabbitmq connection lost before the claim'));
    const answer = new Promise<boolean>((resolve, reject) => {
      if (!this.#gathering || this.#gathering.gen !== gen) {
        const gathering = { gen, asked: [] as Asked[] };
        this.#gathering = gathering;
        queueMicrotask(() => this.#send(gathering));
      }
      this.#gathering.asked.push({ claim, resolve, reject });
    });
    answer.catch(() => {});
    return answer;
  }

  #send(gathering: { gen: Generation; asked: Asked[] }): void {
    if (this.#gathering === gathering) this.#gathering = undefined;
    const { asked } = gathering;
    const state = this.#state();
    if (!state || state.gen !== gathering.gen || gathering.gen.dead) {
      for (const a of asked) a.reject(new ClaimNotAsked('rabbitmq connection lost before the claim'));
      return;
    }
    const correlationId = randomUUID();
    const timer = setTimeout(() => {
      this.#pending.delete(correlationId);
      for (const a of asked) a.reject(new Error(`no answer to the claim of ${a.claim.runId}/${a.claim.attempt} within ${this.#timeoutMs} ms`));
    }, this.#timeoutMs);
    this.#pending.set(correlationId, { asked, timer });
    try {
      // a lone claim goes bare (and is answered with one boolean), as before batching
      const body = asked.length === 1 ? (asked[0] as Asked).claim : asked.map((a) => a.claim);
      state.pub.sendToQueue(this.#names.claims, Buffer.from(JSON.stringify(body)), {
        replyTo: REPLY_TO,
        correlationId,
        contentType: JSON_TYPE,
        // A claim has a deadline (issue 12, defect 6): one the core has not taken by the time this worker
        // stops waiting is dropped by the broker instead of being granted to a worker that gave up on it.
        expiration: String(this.#timeoutMs),
      });
    } catch (error) {
      clearTimeout(timer);
      this.#pending.delete(correlationId);
      for (const a of asked) a.reject(error as Error);
    }
  }

  /** The reply-to consumer dies with the connection, so no answer can arrive any more. */
  rejectAll(): void {
    for (const [id, pending] of this.#pending) {
      clearTimeout(pending.timer);
      for (const a of pending.asked) a.reject(new Error('rabbitmq connection lost while waiting for a claim answer'));
      this.#pending.delete(id);
    }
  }

  #onReply(msg: ConsumeMessage | null): void {
    if (!msg) return;
    const id = msg.properties.correlationId as string | undefined;
    const pending = id ? this.#pending.get(id) : undefined;
    if (!id || !pending) return; // late answer to a claim that timed out
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    let granted: unknown;
    try {
      granted = (JSON.parse(msg.content.toString('utf8')) as { granted?: unknown }).granted;
    } catch {
      granted = undefined;
    }
    const answers = Array.isArray(granted) ? granted : pending.asked.length === 1 ? [granted] : [];
    if (answers.length !== pending.asked.length) {
      for (const a of pending.asked) a.reject(new Error('unreadable claim answer'));
      return;
    }
    pending.asked.forEach((a, i) => a.resolve(answers[i] === true));
  }
}
