import type { Channel } from 'amqplib';
import { decodeClaim, sleep } from '../codec.ts';
import type { Claim } from '../port.ts';
import type { Buffered, Generation } from './link.ts';
import { JSON_TYPE } from './publish.ts';
import type { Names } from './topology.ts';

const CLAIM_BATCH = 200;
const CLAIM_GATHER_MS = 5;

/**
 * serveClaims, the core's side of the claims RPC (claim-client.ts is the worker's): gathers claim RPCs
 * for a few ms (or 200), one decide() per batch, replies, then acks.
 */
export class ClaimServer {
  readonly #names: Names;
  readonly #decide: (claims: Claim[]) => Promise<boolean[]>;
  #pending: Buffered<Claim>[] = [];
  #timer: NodeJS.Timeout | undefined;
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
    await ch.prefetch(CLAIM_BATCH * 2);
    this.#channel = { gen, ch };
    await ch.consume(
      this.#names.claims,
      (msg) => {
        if (!msg) return;
        const decoded = decodeClaim(msg.content);
        if (!decoded.ok || !msg.properties.replyTo) {
          ch.ack(msg); // unanswerable; the worker times out and its delivery comes back
          return;
        }
        this.#pending.push({ gen, ch, msg, value: decoded.value });
        if (this.#pending.length >= CLAIM_BATCH) this.#flush();
        else this.#timer ??= setTimeout(() => this.#flush(), CLAIM_GATHER_MS);
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
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#chain;
    const channel = this.#channel;
    this.#channel = undefined;
    if (channel && !channel.gen.dead) await channel.gen.closeChannel(channel.ch);
  }

  #flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#pending.splice(0, CLAIM_BATCH);
    if (batch.length === 0) return;
    if (this.#pending.length > 0) this.#timer = setTimeout(() => this.#flush(), CLAIM_GATHER_MS);
    // Batches are decided one after another, so two claims of one attempt are never decided concurrently here.
    this.#chain = this.#chain.then(() => this.#answer(batch));
  }

  async #answer(batch: Buffered<Claim>[]): Promise<void> {
    let answers: boolean[];
    try {
      answers = await this.#decide(batch.map((b) => b.value));
      if (answers.length !== batch.length) throw new Error('decide() returned a different number of answers');
    } catch {
      await sleep(200);
      requeue(batch);
      return;
    }
    batch.forEach((b, i) => reply(b, answers[i] === true));
  }
}

/** No decision: the claims go back to the queue and are asked again. */
function requeue(batch: Buffered<Claim>[]): void {
  for (const b of batch) {
    try {
      if (!b.gen.dead) b.ch.nack(b.msg, false, true);
    } catch {
      // channel gone: redelivered
    }
  }
}

/** Answers to the worker's direct reply-to address, then acks the claim. */
function reply(b: Buffered<Claim>, granted: boolean): void {
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
