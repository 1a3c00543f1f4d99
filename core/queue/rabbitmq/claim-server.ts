import type { Channel } from 'amqplib';
import { decodeClaims, sleep } from '../codec.ts';
import type { Claim } from '../port.ts';
import type { Buffered, Generation } from './link.ts';
import { JSON_TYPE } from './publish.ts';
import type { Names } from './topology.ts';

/** most claims decided in one decide() call */
const CLAIM_BATCH = 500;

/** One claim message: a single claim, or the batch of one worker's receive (answered as an array). */
type ClaimMessage = Buffered<{ claims: Claim[]; batched: boolean }>;

/**
 * serveClaims, the core's side of the claims RPC (claim-client.ts is the worker's): one decide() per batch,
 * replies, then acks. A batch is what arrived while the previous one was being decided (up to CLAIM_BATCH
 * claims), so an idle server answers at once and a busy one batches by itself, with no timer to wait on.
 */
export class ClaimServer {
  readonly #names: Names;
  readonly #decide: (claims: Claim[]) => Promise<boolean[]>;
  #pending: ClaimMessage[] = [];
  /** the turn in which the next batch is taken, once the messages of this socket read are all in */
  #scheduled: NodeJS.Immediate | undefined;
  #deciding = false;
  #channel: { gen: Generation; ch: Channel } | undefined;
  #chain: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(names: Names, decide: (claims: Claim[]) => Promise<boolean[]>) {
    this.#names = names;
    this.#decide = decide;
  }

  async attach(gen: Generation): Promise<void> {
    if (this.#closed || this.#channel?.gen === gen) return;
    const ch = await gen.channel();
    await ch.prefetch(400);
    this.#channel = { gen, ch };
    await ch.consume(
      this.#names.claims,
      (msg) => {
        if (!msg) return;
        const decoded = decodeClaims(msg.content);
        if (!decoded.ok || !msg.properties.replyTo) {
          ch.ack(msg); // unanswerable; the worker times out and its delivery comes back
          return;
        }
        this.#pending.push({ gen, ch, msg, value: decoded.value });
        this.#schedule();
      },
      { noAck: false },
    );
  }

  lost(gen: Generation): void {
    this.#pending = this.#pending.filter((p) => p.gen !== gen);
    if (this.#channel?.gen === gen) this.#channel = undefined;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#scheduled) clearImmediate(this.#scheduled);
    this.#scheduled = undefined;
    await this.#chain;
    const channel = this.#channel;
    this.#channel = undefined;
    if (channel && !channel.gen.dead) await channel.gen.closeChannel(channel.ch);
  }

  #schedule(): void {
    if (this.#deciding || this.#scheduled || this.#closed) return;
    this.#scheduled = setImmediate(() => {
      this.#scheduled = undefined;
      this.#decideNext();
    });
  }

  /** Batches are decided one after another, so two claims of one attempt are never decided concurrently here. */
  #decideNext(): void {
    if (this.#deciding || this.#closed) return;
    const batch: ClaimMessage[] = [];
    let claims = 0;
    while (this.#pending.length > 0 && (batch.length === 0 || claims + (this.#pending[0] as ClaimMessage).value.claims.length <= CLAIM_BATCH)) {
      const next = this.#pending.shift() as ClaimMessage;
      batch.push(next);
      claims += next.value.claims.length;
    }
    if (batch.length === 0) return;
    this.#deciding = true;
    this.#chain = this.#answer(batch).finally(() => {
      this.#deciding = false;
      if (this.#pending.length > 0) this.#schedule();
    });
  }

  async #answer(batch: ClaimMessage[]): Promise<void> {
    const claims = batch.flatMap((b) => b.value.claims);
    let answers: boolean[];
    try {
      answers = await this.#decide(claims);
      if (answers.length !== claims.length) throw new Error('decide() returned a different number of answers');
    } catch {
      await sleep(200);
      requeue(batch);
      return;
    }
    let next = 0;
    for (const b of batch) {
      const mine = answers.slice(next, next + b.value.claims.length).map((a) => a === true);
      next += b.value.claims.length;
      reply(b, b.value.batched ? mine : (mine[0] as boolean));
    }
  }
}

/** No decision: the claims go back to the queue and are asked again. */
function requeue(batch: ClaimMessage[]): void {
  for (const b of batch) {
    try {
      if (!b.gen.dead) b.ch.nack(b.msg, false, true);
    } catch {
      // channel gone: redelivered
    }
  }
}

/** Answers to the worker's direct reply-to address, then acks the claim message. */
function reply(b: ClaimMessage, granted: boolean | boolean[]): void {
  if (b.gen.dead) return;
  try {
    b.ch.sendToQueue(b.msg.properties.replyTo as string, Buffer.from(JSON.stringify({ granted })), {
      correlationId: b.msg.properties.correlationId as string | undefined,
      contentType: JSON_TYPE,
    });
    b.ch.ack(b.msg);
  } catch {
    // channel gone: the worker times out and its delivery comes back
  }
}
