import type { Channel, ConsumeMessage } from 'amqplib';
import { ClaimNotAsked } from '../claim-ledger.ts';
import type { Delivery, RunMessage } from '../port.ts';
import type { ClaimClient } from './claim-client.ts';
import type { Generation } from './link.ts';

/** A run message held unacked by this worker until claim() settles it. */
export class RabbitDelivery implements Delivery {
  readonly message: RunMessage;
  readonly gen: Generation;
  readonly ch: Channel;
  readonly msg: ConsumeMessage;
  readonly #claims: ClaimClient;
  #settled = false;

  constructor(claims: ClaimClient, gen: Generation, ch: Channel, msg: ConsumeMessage, message: RunMessage) {
    this.#claims = claims;
    this.gen = gen;
    this.ch = ch;
    this.msg = msg;
    this.message = message;
  }

  async claim(workerId: string): Promise<boolean> {
    if (this.#settled) return false;
    if (this.gen.dead) throw new ClaimNotAsked('rabbitmq connection lost before the claim; the message is redelivered');
    let granted: boolean;
    try {
      granted = await this.#claims.ask(this.gen, { runId: this.message.runId, attempt: this.message.attempt, workerId });
    } catch (error) {
      // No answer: give the message back so it is delivered again (to this or another worker).
      try {
        if (!this.gen.dead) this.ch.nack(this.msg, false, true);
      } catch {
        // channel gone: redelivered anyway
      }
      this.#settled = true;
      throw error;
    }
    this.#settled = true;
    try {
      this.ch.ack(this.msg);
    } catch {
      // The decision is the core's and is final; a redelivered copy will be refused and acked.
    }
    return granted;
  }
}
