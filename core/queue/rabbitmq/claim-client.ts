/**
 * The worker's side of the claims RPC (claim-server.ts is the core's): a claim is published to the claims
 * queue with direct reply-to, and the answer is matched back by correlation id.
 */
import { randomUUID } from 'node:crypto';
import type { ConfirmChannel, ConsumeMessage } from 'amqplib';
import type { Claim } from '../port.ts';
import type { ConsumerState } from './consumer-state.ts';
import type { Generation } from './link.ts';
import { JSON_TYPE } from './publish.ts';
import type { Names } from './topology.ts';

const REPLY_TO = 'amq.rabbitmq.reply-to';

interface PendingClaim {
  resolve(granted: boolean): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

export class ClaimClient {
  readonly #names: Names;
  readonly #timeoutMs: number;
  readonly #state: () => ConsumerState | undefined;
  readonly #pending = new Map<string, PendingClaim>();

  constructor(names: Names, timeoutMs: number, state: () => ConsumerState | undefined) {
    this.#names = names;
    this.#timeoutMs = timeoutMs;
    this.#state = state;
  }

  /** Direct reply-to: the pseudo-queue is consumed (noAck) on the very channel that publishes the claims. */
  async listen(pub: ConfirmChannel): Promise<void> {
    await pub.consume(REPLY_TO, (msg) => this.#onReply(msg), { noAck: true });
  }

  /** Asks the core; rejects when no answer comes within claimTimeoutMs or the connection is lost first. */
  async ask(gen: Generation, claim: Claim): Promise<boolean> {
    const state = this.#state();
    if (!state || state.gen !== gen || gen.dead) throw new Error('rabbitmq connection lost before the claim');
    const correlationId = randomUUID();
    const answer = new Promise<boolean>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(correlationId);
        reject(new Error(`no answer to the claim of ${claim.runId}/${claim.attempt} within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      this.#pending.set(correlationId, { resolve, reject, timer });
    });
    answer.catch(() => {});
    state.pub.sendToQueue(this.#names.claims, Buffer.from(JSON.stringify(claim)), {
      replyTo: REPLY_TO,
      correlationId,
      contentType: JSON_TYPE,
    });
    return answer;
  }

  /** The reply-to consumer dies with the connection, so no answer can arrive any more. */
  rejectAll(): void {
    for (const [id, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(new Error('rabbitmq connection lost while waiting for a claim answer'));
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
    try {
      const answer = JSON.parse(msg.content.toString('utf8')) as { granted?: unknown };
      pending.resolve(answer.granted === true);
    } catch {
      pending.reject(new Error('unreadable claim answer'));
    }
  }
}
