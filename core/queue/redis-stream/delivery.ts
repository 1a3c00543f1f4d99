import type { Redis } from 'ioredis';
import type { Delivery, RunMessage } from '../port.ts';
import { encodeStatusEvent, sleep } from '../codec.ts';
import { REJECTED_CLAIMANT } from '../guarded-consumer.ts';
import { CLAIM_DEADLINE_MS, CLAIM_TTL_SECONDS, FIELD, STALE_ENTRY_MS, WORKERS_GROUP } from './keys.ts';
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
    const won = await this.#settleWithRetries(workerId);
    this.#settled = true;
    return won;
  }

  /**
   * The script is idempotent for the worker that won (a re-sent claim is answered 1 again), so a claim whose
   * reply was lost is simply asked again, a few times within CLAIM_DEADLINE_MS; only then does the error
   * reach the worker (and its ledger records the attempt as abandoned, claim-ledger.ts).
   */
  async #settleWithRetries(workerId: string): Promise<boolean> {
    const deadline = performance.now() + CLAIM_DEADLINE_MS;
    let delay = 50;
    for (;;) {
      try {
        return await this.#settle(workerId);
      } catch (error) {
        if (performance.now() + delay > deadline) throw error;
        await sleep(delay);
        delay *= 4;
      }
    }
  }

  /**
   * One script, so the claim, the settlement of the entry and the `started` event cannot be separated: a
   * worker that dies right after claiming still leaves the core a record that it runs the attempt, and the
   * reaper recovers it once the worker is declared dead.
   * SET NX makes the first claimer of an attempt the only winner.
   */
  async #settle(workerId: string): Promise<boolean> {
    const started = encodeStatusEvent({
      kind: 'started',
      runId: this.message.runId,
      attempt: this.message.attempt,
      workerId,
      // the core stamps the start with its own clock (status.ts); this is only what the worker saw
      at: new Date().toISOString(),
    });
    const won = await claimCommand(this.#cmd)(
      this.#keys.claim(this.message),
      this.#key,
      workerId,
      CLAIM_TTL_SECONDS,
      this.#id,
      WORKERS_GROUP,
      FIELD,
      started,
      REJECTED_CLAIMANT,
      STALE_ENTRY_MS,
      this.#keys.status,
      this.#keys.dead,
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
    cmd.defineCommand('hourglassClaimV3', { numberOfKeys: 2, lua: CLAIM_SCRIPT });
    defined.add(cmd);
  }
  const command = (cmd as unknown as { hourglassClaimV3: ClaimCommand }).hourglassClaimV3;
  return command.bind(cmd);
}

/**
 * KEYS: claim key, run stream. ARGV: worker id, claim ttl (s), entry id, group, field, started event, rejected
 * claimant, stale age (ms), status stream, dead stream. The two streams are only appended to, and are passed
 * as arguments rather than declared keys: Redis checks a script's declared keys for read and write access,
 * and a worker's account may only append to them (acl.ts), never read other workers' events.
 * - a rejected message (its signature did not verify) is dead-lettered with its payload, without taking the claim;
 * - an entry older than the stale age (by Redis's own clock: entry ids are its milliseconds) may be a copy of
 *   an attempt whose claim key has expired: it is dead-lettered, never run (the core republishes runs that
 *   are still queued in Postgres), which is what lets claim keys live hours instead of days;
 * - the winner asking again (a re-sent command after a reconnect) is answered 1 again, with no second event.
 */
const CLAIM_SCRIPT = `
if ARGV[1] == ARGV[7] then
  local found = redis.call('XRANGE', KEYS[2], ARGV[3], ARGV[3])
  local payload = ''
  if found[1] then payload = found[1][2][2] end
  redis.call('XACK', KEYS[2], ARGV[4], ARGV[3])
  redis.call('XDEL', KEYS[2], ARGV[3])
  redis.call('XADD', ARGV[10], '*', 'reason', 'refused by a worker: the run message is not signed by this installation', 'payload', payload, 'stream', KEYS[2], 'id', ARGV[3])
  return 0
end
redis.call('XACK', KEYS[2], ARGV[4], ARGV[3])
redis.call('XDEL', KEYS[2], ARGV[3])
local t = redis.call('TIME')
local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local entryMs = tonumber(string.match(ARGV[3], '^(%d+)'))
if entryMs and nowMs - entryMs > tonumber(ARGV[8]) then
  redis.call('XADD', ARGV[10], '*', 'reason', 'stale copy: older than the claim keys live', 'stream', KEYS[2], 'id', ARGV[3])
  return 0
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  redis.call('XADD', ARGV[9], '*', ARGV[5], ARGV[6])
  return 1
end
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
return 0
`;
