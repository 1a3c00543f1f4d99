import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { type Db, readInstallId } from '../core/store/index.ts';

/** A claim outlives a crash by this long; a running install renews it every third of it. */
const CLAIM_TTL_SECONDS = 60;

/** Takes the key when it is free or already ours (renewing it); answers the owner either way. */
const CLAIM = `local owner = redis.call('GET', KEYS[1])
if owner == false or owner == ARGV[1] then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) return ARGV[1] end
return owner`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

export interface NamespaceClaim {
  release(): Promise<void>;
}

/** The random id migration 0008 gave this database: what tells two installations apart. */
export async function installId(db: Db): Promise<string> {
  const id = await readInstallId(db);
  if (id === undefined) throw new Error('hg_install is empty: run scheduler migrate run');
  return id;
}

export class NamespaceTaken extends Error {}

/**
 * Two installations on one Redis with the same [message_queue] namespace and queue names would share
 * their streams and consumer groups: each would run the other's tasks. Every process that holds the
 * database claims `<namespace>:<task_queue>:install` with the install id; another install's claim
 * refuses the start, naming what to change. The claim is renewed while the process runs, released on stop.
 */
export async function claimNamespace(options: { url: string; namespace: string; taskQueue: string; installId: string; connectTimeoutMs: number; logger: Logger }): Promise<NamespaceClaim> {
  const key = `${options.namespace}:${options.taskQueue}:install`;
  const redis = new Redis(options.url, { lazyConnect: true, connectTimeout: options.connectTimeoutMs, maxRetriesPerRequest: 2, connectionName: 'hourglass-namespace-claim' });
  redis.on('error', () => {});
  const claim = async () => String(await redis.eval(CLAIM, 1, key, options.installId, String(CLAIM_TTL_SECONDS)));
  try {
    const owner = await claim();
    if (owner !== options.installId) {
      throw new NamespaceTaken(
        `Redis namespace "${options.namespace}" (key ${key}) belongs to another installation (install ${owner}, not this database's ${options.installId}): ` +
          'two installations on one Redis would run each other\'s tasks; give this one its own message_queue.namespace (MESSAGE_QUEUE_NAMESPACE), the same in all of its processes',
      );
    }
  } catch (error) {
    redis.disconnect();
    throw error;
  }
  const timer = setInterval(() => {
    claim().then(
      (owner) => {
        if (owner !== options.installId) options.logger.error({ key, owner }, 'another installation took this Redis namespace while it was unclaimed: set message_queue.namespace apart and restart one of them');
      },
      (error: Error) => options.logger.warn({ err: error.message, key }, 'could not renew the Redis namespace claim; retrying'),
    );
  }, (CLAIM_TTL_SECONDS * 1000) / 3);
  timer.unref();
  return {
    async release() {
      clearInterval(timer);
      await redis.eval(RELEASE, 1, key, options.installId).catch(() => undefined);
      redis.disconnect();
    },
  };
}
