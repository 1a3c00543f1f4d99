import type { Redis } from 'ioredis';
import type { Delivery, RunMessage } from '../port.ts';
import { encodeStatusEvent } from '../codec.ts';
import { CLAIM_TTL_SECONDS, FIELD, WORKERS_GROUP } from './keys.ts';
import type { Keys } from './keys.ts';


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
   * One script, so the claim, the settlement of the entry and the `started` event cannot be separated: a
   * worker that dies right after claiming still leaves the core a record that it runs the attempt, and the
   * reaper recovers it, as it does when the answer to a granted claim is lost on the way back.
   * SET NX makes the first claimer of an attempt the only winner.
   */
  async #settle(workerId: string): Promise<boolean> {
    const started = encodeStatusEvent({
      kind: 'started',
      runId: this.message.runId,
      attempt: this.message.attempt,
      workerId,
      at: new Date().toISOString(),
    });
    const won = await claimCommand(this.#cmd)(
      this.#keys.claim(this.message),
      this.#key,
      this.#keys.status,
      workerId,
      CLAIM_TTL_SECONDS,
      this.#id,
      WORKERS_GROUP,
      FIELD,
      started,
    );
    return won === 1;
  }
}

type ClaimCommand = (...args: Array<string | number>) => Promise<unknown>;
const defined = new WeakSet<Redis>();

/**
 * The claim script as a defined command: ioredis sends EVALSHA (falling back to EVAL once after a
 * NOSCRIPT), so each claim carries a 40-byte hash instead of the script, and Redis need not hash it again.
 */
function claimCommand(cmd: Redis): ClaimCommand {
  if (!defined.has(cmd)) {
    cmd.defineCommand('hourglassClaim', { numberOfKeys: 3, lua: CLAIM_SCRIPT });
    defined.add(cmd);
  }
  const command = (cmd as unknown as { hourglassClaim: ClaimCommand }).hourglassClaim;
  return command.bind(cmd);
}

// KEYS: claim key, run stream, status stream. ARGV: worker id, claim ttl, entry id, group, field, started event.
const CLAIM_SCRIPT = `
local claimed = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2])
redis.call('XACK', KEYS[2], ARGV[4], ARGV[3])
redis.call('XDEL', KEYS[2], ARGV[3])
if claimed then
  redis.call('XADD', KEYS[3], '*', ARGV[5], ARGV[6])
  return 1
end
return 0
`;
