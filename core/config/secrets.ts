import { readFileSync } from 'node:fs';
import path from 'node:path';
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

/** Where a worker finds the secrets task specs refer to: `<dir>/<name>/<key>` (a mounted Kubernetes Secret per name). */
export const DEFAULT_SECRETS_DIR = '/var/run/hourglass/secrets';

export function secretsDirectory(env: Record<string, string | undefined> = process.env): string {
  return env.HOURGLASS_SECRETS_DIR || DEFAULT_SECRETS_DIR;
}

interface SecretRef {
  secretKeyRef: { name: string; key: string };
  prefix?: string;
}

function isRef(value: unknown): value is SecretRef {
  const ref = (value as { secretKeyRef?: { name?: unknown; key?: unknown } } | null)?.secretKeyRef;
  return typeof ref?.name === 'string' && typeof ref.key === 'string';
}

// the model refuses these too; checked again here because the worker must never read outside its directory
const SAFE_SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

/** Reads one secret value; the error names the reference, never a value. Trailing newlines (from `kubectl create secret --from-file`) are dropped. */
export function readSecretRef(ref: SecretRef, dir: string): string {
  const { name, key } = ref.secretKeyRef;
  if (!SAFE_SEGMENT.test(name) || !SAFE_SEGMENT.test(key)) throw new Error(`secretKeyRef ${name}/${key} is not a plain name`);
  try {
    return readFileSync(path.join(dir, name, key), 'utf8').replace(/\r?\n$/, '');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`;
    throw new Error(`secretKeyRef ${name}/${key} ${reason} on this worker (looked in ${dir}/${name}/${key}; mount the secret there)`, { cause: error });
  }
}

function resolveRefs(refs: unknown, dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof refs !== 'object' || refs === null) return out;
  for (const [name, ref] of Object.entries(refs)) {
    if (isRef(ref)) out[name] = `${ref.prefix ?? ''}${readSecretRef(ref, dir)}`;
  }
  return out;
}

/**
 * The executor block of a run with its secret references resolved: `shell.secretEnv` joins `shell.env`,
 * `http.secretHeaders` joins `http.headers`. Runs on the worker only, just before the executor; the values
 * exist nowhere else (not in Postgres, the broker message or any API answer). Throws when a secret is missing.
 */
export function resolveSpecSecrets<T extends { shell?: unknown; http?: unknown }>(spec: T, dir: string = secretsDirectory()): T {
  const out: Record<string, unknown> = { ...spec };
  const shell = spec.shell as { env?: Record<string, string>; secretEnv?: unknown } | undefined;
  if (shell?.secretEnv) {
    const { secretEnv, ...rest } = shell;
    out.shell = { ...rest, env: { ...rest.env, ...resolveRefs(secretEnv, dir) } };
  }
  const http = spec.http as { headers?: Record<string, string>; secretHeaders?: unknown } | undefined;
  if (http?.secretHeaders) {
    const { secretHeaders, ...rest } = http;
    out.http = { ...rest, headers: { ...rest.headers, ...resolveRefs(secretHeaders, dir) } };
  }
  return out as T;
}

/** Header names whose values are credentials by convention. */
const SECRET_HEADER_RE = /^(authorization|proxy-authorization|cookie|set-cookie)$|token|secret|password|passwd|api[-_]?key|auth|session|signature|credential/i;

export function isSecretHeaderName(name: string): boolean {
  return SECRET_HEADER_RE.test(name);
}

/** `--password=x`, `token=x`, `-p=x`-style arguments: the value after `=` of a secret-looking name. */
const SECRET_ARG_RE = /^(-{0,2}[\w.-]*(?:password|passwd|pwd|secret|token|api[-_]?key|credential)[\w.-]*=)(.+)$/i;

/**
 * A task's executor blocks as every TaskRead key may see them: values of credential-looking headers and
 * environment variables become "***", and so do credentials inside URLs and `name=value` arguments.
 * Inline secrets remain usable by the worker; references (secretEnv, secretHeaders) show as they are
 * (they hold no secret). docs/security.md explains why references are the better way.
 */
export function redactTaskSecrets<T extends { shell?: unknown; http?: unknown }>(spec: T): T {
  const out: Record<string, unknown> = { ...spec };
  const shell = spec.shell as { env?: Record<string, string>; command?: string[] } | undefined;
  if (shell) {
    out.shell = {
      ...shell,
      ...(shell.env ? { env: Object.fromEntries(Object.entries(shell.env).map(([k, v]) => [k, isSecretEnvName(k) && v !== '' ? REDACTED : redactUrl(v)])) } : {}),
      ...(shell.command ? { command: shell.command.map((arg) => redactUrl(arg).replace(SECRET_ARG_RE, `$1${REDACTED}`)) } : {}),
    };
  }
  const http = spec.http as { headers?: Record<string, string>; url?: string } | undefined;
  if (http) {
    out.http = {
      ...http,
      ...(http.url ? { url: redactUrl(http.url) } : {}),
      ...(http.headers ? { headers: Object.fromEntries(Object.entries(http.headers).map(([k, v]) => [k, isSecretHeaderName(k) && v !== '' ? REDACTED : v])) } : {}),
    };
  }
  return out as T;
}

/**
 * For a replace (PUT, apply) of a task read with redacted values: any value sent back exactly as a read
 * showed it redacted (a header or env value "***", a URL or argument with "***" in it) keeps the stored
 * value, so `get -o yaml | apply` never overwrites a secret with stars.
 */
export function restoreRedactedSecrets(stored: { shell?: unknown; http?: unknown }, incoming: unknown): unknown {
  if (typeof incoming !== 'object' || incoming === null) return incoming;
  const shown = redactTaskSecrets(stored) as Record<string, Record<string, unknown> | undefined>;
  const original = stored as Record<string, Record<string, unknown> | undefined>;
  const out: Record<string, unknown> = { ...(incoming as Record<string, unknown>) };
  // the stored value when `sent` is exactly what a read showed for it and that differs from it
  const keep = (sent: unknown, was: unknown, showedAs: unknown): unknown => (typeof sent === 'string' && sent === showedAs && showedAs !== was ? was : sent);
  for (const [block, fields] of [['shell', ['env', 'command']], ['http', ['headers', 'url']]] as const) {
    const next = out[block];
    if (!isTable(next) || !original[block]) continue;
    const merged: Record<string, unknown> = { ...next };
    for (const field of fields) {
      const sent = next[field];
      const was = original[block]?.[field];
      const showedAs = shown[block]?.[field];
      if (typeof sent === 'string') merged[field] = keep(sent, was, showedAs);
      else if (Array.isArray(sent) && Array.isArray(was) && Array.isArray(showedAs)) merged[field] = sent.map((v, i) => keep(v, was[i], showedAs[i]));
      else if (isTable(sent) && isTable(was) && isTable(showedAs)) merged[field] = Object.fromEntries(Object.entries(sent).map(([k, v]) => [k, keep(v, was[k], showedAs[k])]));
    }
    out[block] = merged;
  }
  return out;
}
