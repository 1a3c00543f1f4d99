import type { FieldProblem } from '../model/errors.ts';
import type { Config } from './schema.ts';
import { sourceOf, type Provenance } from './tree.ts';

/**
 * Checks that span keys or depend on the environment, run after the schema. Problems refuse to
 * start; warnings are logged by the caller.
 */

/** Environments where auth may be off and secrets weak. Every other name (staging, production, custom) is strict. */
export const RELAXED_ENVIRONMENTS: readonly string[] = ['development', 'test'];
export const MIN_JWT_SECRET_LENGTH = 32;
/** An API key is a bearer password: outside development it must be long enough that guessing is hopeless. */
export const MIN_API_KEY_LENGTH = 32;

export type ConfigMode = 'all' | 'api' | 'dispatcher' | 'worker' | 'operator';

export interface RuleContext {
  provenance: Provenance;
  /** Label of the selected environment file, e.g. "config/production.toml". */
  environmentFile: string;
  /** the process's mode; absent: every rule applies */
  mode?: ConfigMode;
}

/** Whether a process in this mode serves the REST API (absent mode: assume it may). */
function servesApi(config: Config, mode: ConfigMode | undefined): boolean {
  return mode === undefined || mode === 'api' || (mode === 'all' && config.api.enabled);
}

export interface RuleResult {
  problems: FieldProblem[];
  warnings: string[];
}

function where(ctx: RuleContext, key: string): string {
  return sourceOf(ctx.provenance, key.split('.')) ?? 'the defaults';
}

function checkAuth(config: Config, ctx: RuleContext, out: RuleResult): void {
  const { auth } = config.api;
  const env = config.environment;
  if (RELAXED_ENVIRONMENTS.includes(env)) {
    // a dispatcher or worker serves no API: a warning there about unauthenticated requests only misleads
    if (!auth.enabled && servesApi(config, ctx.mode)) {
      out.warnings.push(`api.auth.enabled is false (${where(ctx, 'api.auth.enabled')}): the API accepts requests without authentication; acceptable only in ${env}`);
    }
    return;
  }
  // a worker, dispatcher or operator holds no API to protect: demanding a JWT secret there only spreads the secret
  if (!servesApi(config, ctx.mode)) return;
  if (!auth.enabled) {
    out.problems.push({
      path: 'api.auth.enabled',
      message: `in ${where(ctx, 'api.auth.enabled')}: authentication must be enabled in the ${env} environment`,
    });
  }
  const short = Object.keys(auth.api_keys).filter((key) => key.length < MIN_API_KEY_LENGTH).length;
  if (short > 0) {
    // never the key itself, not even a prefix: the message goes to logs
    out.problems.push({
      path: 'api.auth.api_keys',
      message: `in ${where(ctx, 'api.auth.api_keys')}: ${short} API key(s) shorter than ${MIN_API_KEY_LENGTH} characters; the ${env} environment needs keys that cannot be guessed (e.g. openssl rand -hex 24)`,
    });
  }
  if (auth.jwt_secret.length < MIN_JWT_SECRET_LENGTH) {
    const source = sourceOf(ctx.provenance, ['api', 'auth', 'jwt_secret']);
    const state = auth.jwt_secret === '' ? 'is not set' : `is too weak (${auth.jwt_secret.length} characters)`;
    out.problems.push({
      path: 'api.auth.jwt_secret',
      message: `in ${source ?? ctx.environmentFile}: ${state}; the ${env} environment needs at least ${MIN_JWT_SECRET_LENGTH} characters (set JWT_SECRET)`,
    });
  }
}

/** Outside development a process that needs a database must be given one: the embedded one is a toy there. */
function checkDatabase(config: Config, ctx: RuleContext, out: RuleResult): void {
  if (!config.embedded || RELAXED_ENVIRONMENTS.includes(config.environment)) return;
  if (ctx.mode === 'worker' && config.message_queue.type !== 'postgres') return;
  out.problems.push({
    path: 'database.url',
    message: `in ${where(ctx, 'database.url')}: is not set; the ${config.environment} environment needs a Postgres database (set DATABASE_URL); the embedded database is for development`,
  });
}

function checkMinMax(min: number, max: number, minKey: string, maxKey: string, ctx: RuleContext, out: RuleResult): void {
  if (min <= max) return;
  out.problems.push({
    path: minKey,
    message: `in ${where(ctx, minKey)}: ${minKey} (${min}) must not exceed ${maxKey} (${max}, from ${where(ctx, maxKey)})`,
  });
}

function checkQueue(config: Config, ctx: RuleContext, out: RuleResult): void {
  const mq = config.message_queue;
  if (config.embedded) return;
  if (mq.type === 'rabbitmq' && !/^amqps?:\/\//.test(mq.url)) {
    out.problems.push({
      path: 'message_queue.url',
      message: `in ${where(ctx, 'message_queue.url')}: the rabbitmq queue needs an amqp:// or amqps:// URL (set MESSAGE_QUEUE_URL)`,
    });
  }
  if (mq.type === 'redis_stream' && mq.url !== '' && !/^rediss?:\/\//.test(mq.url)) {
    out.problems.push({
      path: 'message_queue.url',
      message: `in ${where(ctx, 'message_queue.url')}: the redis_stream queue needs a redis:// or rediss:// URL, or an empty url and [message_queue.redis] host/port`,
    });
  }
}

/**
 * Outside development a broker is not trusted (docs/brokers.md): whoever can write to it could make workers
 * run anything, unless the core signs run messages and workers verify them. So a process that publishes
 * runs (API, dispatcher, all, an operator that dispatches; absent mode: assume it may) needs the secret
 * key, and a worker the public key. The postgres queue needs neither: its runs come from the database.
 */
function checkSigning(config: Config, ctx: RuleContext, out: RuleResult): void {
  // checked before applyEmbedded: without a database url only a worker stays on the broker (checkDatabase
  // refuses the others outside development)
  const onBroker = config.message_queue.type !== 'postgres' && (!config.embedded || ctx.mode === 'worker');
  if (!onBroker || RELAXED_ENVIRONMENTS.includes(config.environment)) return;
  const signing = config.message_queue.signing;
  const env = config.environment;
  const queue = config.message_queue.type;
  if (ctx.mode === 'worker') {
    if (signing.public_key !== '' || signing.public_key_file !== '' || signing.secret_key !== '' || signing.secret_key_file !== '') return;
    out.problems.push({
      path: 'message_queue.signing.public_key',
      message: `in ${where(ctx, 'message_queue.signing.public_key')}: is not set; in the ${env} environment a worker on ${queue} runs only run messages signed by the core, so it needs the public key (set RUN_SIGNING_PUBLIC_KEY, or public_key_file; docs/brokers.md)`,
    });
    return;
  }
  if (ctx.mode === 'operator' && !config.operator.run_dispatcher) return;
  if (signing.secret_key !== '' || signing.secret_key_file !== '') return;
  out.problems.push({
    path: 'message_queue.signing.secret_key',
    message: `in ${where(ctx, 'message_queue.signing.secret_key')}: is not set; in the ${env} environment the core signs every run message it publishes on ${queue}, so it needs the secret key (set RUN_SIGNING_SECRET_KEY, or secret_key_file; docs/brokers.md)`,
  });
}

export function checkRules(config: Config, ctx: RuleContext): RuleResult {
  const out: RuleResult = { problems: [], warnings: [] };
  checkAuth(config, ctx, out);
  checkDatabase(config, ctx, out);
  const db = config.database;
  checkMinMax(db.min_connections, db.max_connections, 'database.min_connections', 'database.max_connections', ctx, out);
  checkMinMax(db.pool.min_connections, db.pool.max_connections, 'database.pool.min_connections', 'database.pool.max_connections', ctx, out);
  checkQueue(config, ctx, out);
  checkSigning(config, ctx, out);
  if (config.worker.heartbeat_interval_seconds >= config.dispatcher.worker_timeout_seconds) {
    out.problems.push({
      path: 'dispatcher.worker_timeout_seconds',
      message: `in ${where(ctx, 'dispatcher.worker_timeout_seconds')}: must exceed worker.heartbeat_interval_seconds (${config.worker.heartbeat_interval_seconds}), or every worker is declared dead between heartbeats`,
    });
  }
  // a fire prepared ahead holds its fence open: the server ends a transaction idle for half the lease (leases.ts)
  if (config.dispatcher.fire_lead_ms * 4 > config.dispatcher.leader_lease_seconds * 1000) {
    out.problems.push({
      path: 'dispatcher.fire_lead_ms',
      message: `in ${where(ctx, 'dispatcher.fire_lead_ms')}: must be at most a quarter of dispatcher.leader_lease_seconds (${config.dispatcher.leader_lease_seconds} s, so ${config.dispatcher.leader_lease_seconds * 250} ms): a fire prepared ahead keeps its transaction open that long`,
    });
  }
  // A status write stalled on one replica ends at the query deadline and its batch is applied elsewhere; a
  // reaper that counts silence past that deadline declares workers dead whose outcomes are merely stuck
  // (docs/reliability.md, Known gaps)
  const deadline = config.database.query_timeout_seconds;
  if (deadline > 0 && config.dispatcher.worker_timeout_seconds <= deadline) {
    out.warnings.push(
      `dispatcher.worker_timeout_seconds (${config.dispatcher.worker_timeout_seconds}, ${where(ctx, 'dispatcher.worker_timeout_seconds')}) does not exceed database.query_timeout_seconds (${deadline}): ` +
        'a status write stalled up to its deadline can get live workers declared dead and their attempts run again; keep it above',
    );
  }
  const tls = config.api.tls;
  for (const key of ['cert_file', 'key_file'] as const) {
    if (tls.enabled && tls[key] === '') {
      out.problems.push({ path: `api.tls.${key}`, message: `in ${where(ctx, 'api.tls.enabled')}: required when api.tls.enabled is true` });
    }
  }
  return out;
}

/**
 * The embedded default: with no database url anywhere in the chain, Hourglass runs on PGlite, and
 * only the postgres queue can work without a broker, so the effective queue type is postgres.
 */
export function applyEmbedded(config: Config, ctx: RuleContext): string[] {
  if (!config.embedded) return [];
  // A worker on a broker holds no database credentials by design: its runs, claims and outcomes travel on the queue.
  if (ctx.mode === 'worker' && config.message_queue.type !== 'postgres') {
    config.embedded = false;
    return [];
  }
  const warnings: string[] = [];
  if (config.message_queue.type !== 'postgres') {
    warnings.push(
      `message_queue.type "${config.message_queue.type}" (${where(ctx, 'message_queue.type')}) is replaced by "postgres": no database url is configured, ` +
        'so Hourglass runs on the embedded PGlite database with its built-in queue; set DATABASE_URL to use another queue',
    );
    config.message_queue.type = 'postgres';
  }
  return warnings;
}
