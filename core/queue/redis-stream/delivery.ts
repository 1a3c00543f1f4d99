import type { Redis } from 'ioredis';
import type { Delivery, RunMessage } from '../port.ts';
import { execErrors } from './client.ts';
import { WORKERS_GROUP } from './keys.ts';
import type { Keys } from './keys.ts';

const CLAIM_TTL_SECONDS = 604_800;

/** A run entry read by this worker; it stays pending to the worker's consumer name until claim() settles it. */
export class RedisDelivery implements Delivery {
  readonly message: RunMessage;
  readonly #cmd: Redis;
  readonly #keys: Keys;
  readonly #key: string;
  readonly #id: string;
  #settled = false;

  constructor(cmd: Redis, keys: Keys, key: string, id: string, message: RunMessage) {
    this.#cmd = cmd;
    this.#keys = keys;
    this.#key = key;
    this.#id = id;
    this.message = message;
  }

  async claim(workerId: string): Promise<boolean> {
    if (this.#settled) return false;
    const won = await this.#settle(workerId);
    this.#settled = true;
    return won;
  }

  /**
   * One transaction: the claim key and the settlement of the entry cannot be separated. SET NX makes the
   * first claimer of (runId, attempt) the only winner, for the claim key's 7 days.
   */
  async #settle(workerId: string): Promise<boolean> {
    const results = await this.#cmd
      .multi()
      .set(this.#keys.claim(this.message.runId, this.message.attempt), workerId, 'EX', CLAIM_TTL_SECONDS, 'NX')
      .call('XACK', this.#key, WORKERS_GROUP, this.#id)
      .call('XDEL', this.#key, this.#id)
      .exec();
    execErrors(results);
    return results?.[0]?.[1] === 'OK';
  }
}
