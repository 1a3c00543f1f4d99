import type { FastifyRequest } from 'fastify';
import { ApiProblem } from './problem.ts';

/** Log streams (server-sent events) one client may hold open at once, and the whole process. */
export const MAX_STREAMS_PER_CLIENT = 8;
export const MAX_STREAMS_TOTAL = 256;

/**
 * Counts open log streams per client (the credential, or the address without auth). Each stream holds a
 * socket and polls the database twice a second, so one client opening thousands would starve the rest.
 */
export class StreamSlots {
  readonly #open = new Map<string, number>();
  #total = 0;

  /** Takes a slot or throws 429; the returned function gives it back (call it once, when the stream ends). */
  acquire(request: FastifyRequest): () => void {
    const client = request.principal && request.principal.kind !== 'anonymous' ? request.principal.id : `ip:${request.ip}`;
    const held = this.#open.get(client) ?? 0;
    if (held >= MAX_STREAMS_PER_CLIENT || this.#total >= MAX_STREAMS_TOTAL) {
      const limit = held >= MAX_STREAMS_PER_CLIENT ? `${MAX_STREAMS_PER_CLIENT} per client` : `${MAX_STREAMS_TOTAL} in this API process`;
      throw new ApiProblem(429, 'HG_ERR_STREAMS_LIMIT', `too many open log streams (at most ${limit}); close one, or read the logs without follow=true`, { 'retry-after': '5' });
    }
    this.#open.set(client, held + 1);
    this.#total++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#total--;
      const now = (this.#open.get(client) ?? 1) - 1;
      if (now <= 0) this.#open.delete(client);
      else this.#open.set(client, now);
    };
  }

  get total(): number {
    return this.#total;
  }
}
