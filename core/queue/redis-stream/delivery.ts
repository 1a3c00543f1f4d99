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
    // the first ask goes with the other claims of this turn; a retry goes alone, so that one claim Redis
    // refuses (a script error fails the whole call) cannot keep the others of its batch from being decided
    for (let alone = false; ; alone = true) {
      try {
        return await this.#settle(workerId, alone);
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
  async #settle(workerId: string, alone: boolean): Promise<boolean> {
    const started = encodeStatusEvent({
      kind: 'started',
      runId: this.message.runId,
      attempt: this.message.attempt,
      workerId,
      // the core stamps the start with its own clock (status.ts); this is only what the worker saw
      at: new Date().toISOString(),
    });
    const claim: PendingClaim = { claimKey: this.#keys.claim(this.message), streamKey: this.#key, entryId: this.#id, started };
    const won = alone ? (await claimsCommand(this.#cmd, this.#keys, workerId, [claim]))[0] : await claimBatch(this.#cmd, this.#keys, workerId).add(claim);
    return won === 1;
  }
}

/** one entry's claim, as the claim script takes it */
interface PendingClaim {
  claimKey: string;
  streamKey: string;
  entryId: string;
  started: string;
}

/** a script call decides at most this many claims, so that no call holds Redis long */
const MAX_CLAIMS_PER_CALL = 100;

/**
 * The claims asked in one turn of the event loop (those of one receive, typically a worker's free slots)
 * leave as one script call: one command for Redis to parse and run instead of one each, and the arguments
 * shared by every claim sent once (a claim's command was ~465 bytes, most of them the same for all).
 */
class ClaimBatch {
  readonly #cmd: Redis;
  readonly #keys: Keys;
  readonly #workerId: string;
  #waiting: Array<{ claim: PendingClaim; resolve: (won: number) => void; reject: (error: unknown) => void }> = [];

  constructor(cmd: Redis, keys: Keys, workerId: string) {
    this.#cmd = cmd;
    this.#keys = keys;
    this.#workerId = workerId;
  }

  add(claim: PendingClaim): Promise<number> {
    return new Promise((resolve, reject) => {
      if (this.#waiting.length === 0) queueMicrotask(() => this.#flush());
      this.#waiting.push({ claim, resolve, reject });
    });
  }

  #flush(): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (let start = 0; start < waiting.length; start += MAX_CLAIMS_PER_CALL) {
      const chunk = waiting.slice(start, start + MAX_CLAIMS_PER_CALL);
      claimsCommand(this.#cmd, this.#keys, this.#workerId, chunk.map((w) => w.claim)).then(
        (won) => chunk.forEach((w, i) => w.resolve(won[i] ?? 0)),
        (error: unknown) => chunk.forEach((w) => w.reject(error)),
      );
    }
  }
}

const batches = new WeakMap<Redis, WeakMap<Keys, Map<string, ClaimBatch>>>();

function claimBatch(cmd: Redis, keys: Keys, workerId: string): ClaimBatch {
  let byKeys = batches.get(cmd);
  if (!byKeys) batches.set(cmd, (byKeys = new WeakMap()));
  let byWorker = byKeys.get(keys);
  if (!byWorker) byKeys.set(keys, (byWorker = new Map()));
  let batch = byWorker.get(workerId);
  if (!batch) byWorker.set(workerId, (batch = new ClaimBatch(cmd, keys, workerId)));
  return batch;
}

async function claimsCommand(cmd: Redis, keys: Keys, workerId: string, claims: PendingClaim[]): Promise<number[]> {
  const args: Array<string | number> = [claims.length * 2];
  for (const c of claims) args.push(c.claimKey, c.streamKey);
  args.push(workerId, CLAIM_TTL_SECONDS, WORKERS_GROUP, FIELD, REJECTED_CLAIMANT, STALE_ENTRY_MS, keys.status, keys.dead);
  for (const c of claims) args.push(c.entryId, c.started);
  const won = await claimCommand(cmd)(...args);
  if (!Array.isArray(won) || won.length !== claims.length) throw new Error(`the claim script answered ${JSON.stringify(won)} for ${claims.length} claims`);
  return won.map(Number);
}

type ClaimCommand = (...args: Array<string | number>) => Promise<unknown>;
const defined = new WeakSet<Redis>();

/**
 * The claim script as a defined command: ioredis sends EVALSHA (falling back to EVAL once after a
 * NOSCRIPT), so each claim carries a 40-byte hash instead of the script, and Redis need not hash it again.
 */
function claimCommand(cmd: Redis): ClaimCommand {
  if (!defined.has(cmd)) {
    // the number of keys is the command's first argument: two per claim
    cmd.defineCommand('hourglassClaimV4', { lua: CLAIM_SCRIPT });
    defined.add(cmd);
  }
  const command = (cmd as unknown as { hourglassClaimV4: ClaimCommand }).hourglassClaimV4;
  return command.bind(cmd);
}

/**
 * KEYS: per claim, its claim key and its run stream. ARGV: worker id, claim ttl (s), group, field, rejected
 * claimant, stale age (ms), status stream, dead stream, then per claim its entry id and its started event.
 * Answers 1 or 0 per claim, in order. The two streams are only appended to, and are passed as arguments
 * rather than declared keys: Redis checks a script's declared keys for read and write access, and a worker's
 * account may only append to them (acl.ts), never read other workers' events.
 * For each claim:
 * - a rejected message (its signature did not verify) is dead-lettered with its payload, without taking the claim;
 * - an entry older than the stale age (by Redis's own clock: entry ids are its milliseconds) may be a copy of
 *   an attempt whose claim key has expired: it is dead-lettered, never run (the core republishes runs that
 *   are still queued in Postgres), which is what lets claim keys live hours instead of days;
 * - the winner asking again (a re-sent command after a reconnect) is answered 1 again, with no second event.
 */
const CLAIM_SCRIPT = `
local worker, ttl, group, field, rejected, stale, status, dead = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[7], ARGV[8]
local t = redis.call('TIME')
local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local answers = {}
for i = 1, #KEYS / 2 do
  local claimKey, stream = KEYS[2 * i - 1], KEYS[2 * i]
  local id, started = ARGV[7 + 2 * i], ARGV[8 + 2 * i]
  local answer = 0
  if worker == rejected then
    local found = redis.call('XRANGE', stream, id, id)
    local payload = ''
    if found[1] then payload = found[1][2][2] end
    redis.call('XACK', stream, group, id)
    redis.call('XDEL', stream, id)
    redis.call('XADD', dead, '*', 'reason', 'refused by a worker: the run message is not signed by this installation', 'payload', payload, 'stream', stream, 'id', id)
  else
    redis.call('XACK', stream, group, id)
    redis.call('XDEL', stream, id)
    local entryMs = tonumber(string.match(id, '^(%d+)'))
    if entryMs and nowMs - entryMs > stale then
      redis.call('XADD', dead, '*', 'reason', 'stale copy: older than the claim keys live', 'stream', stream, 'id', id)
    elseif redis.call('SET', claimKey, worker, 'NX', 'EX', ttl) then
      redis.call('XADD', status, '*', field, started)
      answer = 1
    elseif redis.call('GET', claimKey) == worker then
      answer = 1
    end
  end
  answers[i] = answer
end
return answers
`;
