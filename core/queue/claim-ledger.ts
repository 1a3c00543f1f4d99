/**
 * What a worker's queue layer knows about its own claims, so that the core can tell "the worker never got
 * this attempt" from "the worker finished it and the outcome is still on its way" (issue 12, defect 1).
 *
 * A heartbeat that does not list an attempt proves nothing: the outcome may be delayed behind it (a retried
 * outbox batch, another stream, a broker that reorders). What does prove it is the worker saying, about an
 * attempt it asked for, "I gave up on this claim and will never run it": the ledger records every claim that
 * ended without an answer, refuses any later copy of that attempt on this worker, and the heartbeat carries
 * the list (`abandoned`). The core fails such an attempt at once, with no race: no outcome of it can exist.
 *
 * That promise holds only if no other copy of the attempt can be granted here while its claim is in flight:
 * a broker that redelivers the copy of an unanswered claim (or holds two copies) would otherwise have the
 * second claim granted and run, and the first then reported abandoned (the simulator's lost claim answers).
 * So one claim per attempt is in flight on a worker at a time, and an attempt granted here is never claimed
 * here again: another copy is settled and refused, and the failure of its claim abandons nothing (the attempt
 * may be running here).
 */
import type { Delivery } from './port.ts';

/** enough for hours of lost answers; the core needs to see an entry in one heartbeat that lands */
const MAX_ABANDONED = 1000;
/** granted attempts remembered, to refuse later copies (the worker remembers as many starts) */
const MAX_GRANTED = 10_000;

export class ClaimLedger {
  readonly #abandoned = new Set<string>();
  /** attempts whose claim is in flight on this worker */
  readonly #claiming = new Set<string>();
  readonly #granted = new Set<string>();

  /** true when this attempt's claim was given up here: it must never run on this worker */
  isAbandoned(runId: string, attempt: number): boolean {
    return this.#abandoned.has(`${runId}/${attempt}`);
  }

  abandon(runId: string, attempt: number): void {
    const key = `${runId}/${attempt}`;
    this.#abandoned.delete(key);
    this.#abandoned.add(key);
    if (this.#abandoned.size > MAX_ABANDONED) this.#abandoned.delete(this.#abandoned.values().next().value as string);
  }

  /** oldest first, "runId/attempt" */
  list(): string[] {
    return [...this.#abandoned];
  }

  /**
   * The delivery as the worker sees it: a claim that throws is recorded as abandoned before the error
   * reaches the worker, and a later copy of an abandoned attempt is settled with the broker but refused.
   */
  guard(delivery: Delivery): Delivery {
    const { message } = delivery;
    return {
      message,
      claim: async (workerId) => {
        const key = `${message.runId}/${message.attempt}`;
        if (this.#abandoned.has(key) || this.#claiming.has(key) || this.#granted.has(key)) {
          // settle the broker's copy (a redelivery), but never run what the core may already have failed, what
          // the claim in flight may yet give up on, or what this worker already runs
          await delivery.claim(workerId).catch(() => false);
          return false;
        }
        this.#claiming.add(key);
        try {
          const granted = await delivery.claim(workerId);
          if (granted) {
            this.#granted.add(key);
            if (this.#granted.size > MAX_GRANTED) this.#granted.delete(this.#granted.values().next().value as string);
          }
          return granted;
        } catch (error) {
          if (!(error instanceof ClaimNotAsked)) this.abandon(message.runId, message.attempt);
          throw error;
        } finally {
          this.#claiming.delete(key);
        }
      },
    };
  }
}

/** A claim that failed before it left the worker: nobody can have granted it, so it is not abandoned. */
export class ClaimNotAsked extends Error {}
