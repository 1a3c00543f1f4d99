import { ENV_OVERRIDES } from './env.ts';
import { redactUrl } from './fields.ts';
import { isTable } from './tree.ts';

/**
 * Environment variables that hold the process's own credentials. The worker removes these (and
 * every name `isSecretEnvName` accepts) from a task's environment, so a shell task never sees the
 * database, broker or JWT secrets of the worker that runs it.
 */
export const SECRET_ENV_NAMES: readonly string[] = [
  ...ENV_OVERRIDES.filter((o) => o.secret).map((o) => o.name),
  'STAGING_DATABASE_URL', 'STAGING_MESSAGE_QUEUE_URL', 'STAGING_JWT_SECRET',
];

const SECRET_NAME_RE = /SECRET|PASSWORD|PASSWD|TOKEN|_KEY|CREDENTIAL|DATABASE_URL|MESSAGE_QUEUE_URL|REDIS_URL|AMQP/i;

export function isSecretEnvName(name: string): boolean {
  return SECRET_ENV_NAMES.includes(name) || SECRET_NAME_RE.test(name);
}

export const REDACTED = '***';

const SECRET_KEY_RE = /secret|password|token/i;

function redact(value: unknown, key: string): unknown {
  if (key === 'api_keys' && isTable(value)) {
    // The key itself is the credential: keep the permissions, hide the names.
    return Object.fromEntries(Object.values(value).map((perms, i) => [`${REDACTED}${i + 1}`, perms]));
  }
  if (typeof value === 'string') {
    if (SECRET_KEY_RE.test(key)) return value === '' ? '' : REDACTED;
    return value.includes('://') ? redactUrl(value) : value;
  }
  if (Array.isArray(value)) return value.map((v) => redact(v, key));
  if (isTable(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redact(v, k)]));
  return value;
}

/**
 * A copy safe to log or serve from /api/system/info: jwt_secret and passwords become "***",
 * API key names become "***1", "***2"... (permissions kept), and `user:pass@` in any URL becomes `***@`.
 * Empty secrets stay empty so "not set" remains visible.
 */
export function redactConfig<T>(config: T): T {
  return redact(config, '') as T;
}
