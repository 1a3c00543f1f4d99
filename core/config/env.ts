import type { FieldProblem } from '../model/errors.ts';
import { LOG_LEVELS } from './schema.ts';
import { setPath, type Tree } from './tree.ts';

/**
 * Environment variables that override config keys. They are the last layer, after every file.
 * An empty variable counts as unset. Values arrive as strings; the schema coerces numbers and
 * booleans and names the variable when a value is bad.
 */
export interface EnvOverride {
  name: string;
  /** Dotted config key(s) it sets; empty for ENVIRONMENT, which selects a file instead. */
  keys: readonly string[];
  description: string;
  /** Holds a credential: redacted in logs and never passed to task processes. */
  secret: boolean;
  /** The value replaces the whole table at its key instead of merging into it. */
  replace?: boolean;
  /** Turns the raw string into the value to set; throws an Error whose message explains the problem. */
  parse?: (raw: string) => unknown;
}

function parseApiKeys(raw: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (e) {
    throw new Error(`expected a JSON object like {"key1": ["Admin"], "key2": ["TaskRead", "TaskWrite"]}: ${(e as Error).message}`, { cause: e });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error('expected a JSON object mapping each API key to an array of permissions');
  }
  return value;
}

/** RUST_LOG from the seed guide: "info", or env_logger directives like "scheduler=debug,hyper=warn". */
function parseRustLog(raw: string): string {
  const directives = raw.split(',').map((d) => d.trim()).filter(Boolean);
  const bare = directives.find((d) => !d.includes('='));
  const level = (bare ?? directives[0]?.split('=')[1] ?? '').toLowerCase();
  const mapped = level === 'warning' ? 'warn' : level === 'off' ? 'fatal' : level;
  if (!(LOG_LEVELS as readonly string[]).includes(mapped)) {
    throw new Error(`expected a log level (${LOG_LEVELS.join(', ')}), got ${JSON.stringify(raw)}`);
  }
  return mapped;
}

export const ENV_OVERRIDES: readonly EnvOverride[] = [
  { name: 'ENVIRONMENT', keys: [], secret: false, description: 'Selects config/<ENVIRONMENT>.toml (default development).' },
  { name: 'DATABASE_URL', keys: ['database.url'], secret: true, description: 'Postgres URL; unset: embedded PGlite.' },
  { name: 'DATABASE_MAX_CONNECTIONS', keys: ['database.max_connections', 'database.pool.max_connections'], secret: false, description: 'Pool size (sets both database.max_connections and database.pool.max_connections).' },
  { name: 'MESSAGE_QUEUE_URL', keys: ['message_queue.url'], secret: true, description: 'amqp(s):// or redis(s):// broker URL.' },
  { name: 'MESSAGE_QUEUE_TYPE', keys: ['message_queue.type'], secret: false, description: 'postgres, redis_stream or rabbitmq.' },
  { name: 'MESSAGE_QUEUE_NAMESPACE', keys: ['message_queue.namespace'], secret: false, description: 'Prefix of every broker key and queue; one per installation sharing a broker.' },
  { name: 'REDIS_HOST', keys: ['message_queue.redis.host'], secret: false, description: 'Redis host.' },
  { name: 'REDIS_PORT', keys: ['message_queue.redis.port'], secret: false, description: 'Redis port.' },
  { name: 'REDIS_PASSWORD', keys: ['message_queue.redis.password'], secret: true, description: 'Redis password.' },
  { name: 'LOG_LEVEL', keys: ['observability.log_level'], secret: false, description: 'trace, debug, info, warn, error or fatal.', parse: (s) => s.toLowerCase() },
  { name: 'RUST_LOG', keys: ['observability.log_level'], secret: false, description: 'Read for compatibility with the seed guide ("info" or "target=level,..."); LOG_LEVEL is preferred and wins.', parse: parseRustLog },
  { name: 'LOG_FORMAT', keys: ['observability.log_format'], secret: false, description: 'json or pretty.', parse: (s) => s.toLowerCase() },
  { name: 'JWT_SECRET', keys: ['api.auth.jwt_secret'], secret: true, description: 'JWT HMAC secret (at least 32 characters outside development).' },
  { name: 'API_KEYS', keys: ['api.auth.api_keys'], secret: true, description: 'JSON object: {"key1": ["Admin"], "key2": ["TaskRead", "TaskWrite"]}; replaces [api.auth.api_keys].', parse: parseApiKeys, replace: true },
  { name: 'API_BIND_ADDRESS', keys: ['api.bind_address'], secret: false, description: 'host:port for the API.' },
  { name: 'WORKER_ID', keys: ['worker.worker_id'], secret: false, description: 'This worker\'s id (default <hostname>-<pid>).' },
  { name: 'WORKER_POOL', keys: ['worker.pool'], secret: false, description: 'WorkerPool this worker serves.' },
  { name: 'WORKER_SUPPORTED_TASK_TYPES', keys: ['worker.supported_task_types'], secret: false, description: 'Comma-separated executor types this worker runs, e.g. shell,http.', parse: (s) => s.split(',').map((t) => t.trim()).filter((t) => t !== '') },
  { name: 'METRICS_BIND_ADDRESS', keys: ['observability.metrics_bind_address'], secret: false, description: 'host:port of /health, /ready and /metrics in --mode dispatcher and worker.' },
  { name: 'WORKER_TASK_ISOLATION', keys: ['worker.task_isolation'], secret: false, description: 'auto, namespace, userns or none: how shell tasks are kept from the worker\'s secrets (docs/task-isolation.md); a WorkerPool sets it in template.env.' },
  { name: 'WORKER_MAX_CONCURRENT_TASKS', keys: ['worker.max_concurrent_tasks'], secret: false, description: 'Runs executed at once by this worker.' },
];

export const envSource = (name: string): string => `environment variable ${name}`;

export interface EnvLayer {
  /** One tree per variable, in table order, so each key's source names its variable. */
  layers: { name: string; tree: Tree; replace: readonly string[] }[];
  warnings: string[];
  problems: FieldProblem[];
}

type Env = Readonly<Record<string, string | undefined>>;

export function envLayers(env: Env): EnvLayer {
  const out: EnvLayer = { layers: [], warnings: [], problems: [] };
  const set = (name: string): boolean => env[name] !== undefined && env[name] !== '';
  for (const o of ENV_OVERRIDES) {
    const raw = env[o.name];
    if (o.keys.length === 0 || raw === undefined || raw === '') continue;
    if (o.name === 'RUST_LOG') {
      if (set('LOG_LEVEL')) {
        out.warnings.push('RUST_LOG is ignored because LOG_LEVEL is set');
        continue;
      }
      out.warnings.push('RUST_LOG is read for compatibility with the seed guide; prefer LOG_LEVEL');
    }
    let value: unknown;
    try {
      value = o.parse ? o.parse(raw) : raw;
    } catch (e) {
      out.problems.push({ path: o.keys[0] ?? o.name, message: `in ${envSource(o.name)}: ${(e as Error).message}` });
      continue;
    }
    const tree: Tree = {};
    for (const key of o.keys) setPath(tree, key, value);
    out.layers.push({ name: o.name, tree, replace: o.replace ? o.keys : [] });
  }
  return out;
}
