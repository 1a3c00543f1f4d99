import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ErrorCode } from '../core/model/index.ts';
import { looksLikeJwt, TokenError, type TokenService } from './jwt.ts';
import { grants, type Permission, type RouteAccess } from './permissions.ts';

export type { Permission };

/**
 * What a key's task permissions reach (api.auth.api_keys entries with task_types and pools): absent
 * fields mean every type or every pool. Enforced by api/key-scope.ts.
 */
export interface KeyScope {
  taskTypes?: readonly string[];
  pools?: readonly string[];
}

/** The failed-authentication limiter the hook consults (api/auth-failures.ts). */
export interface FailureLimiter {
  assertAllowed(address: string): void;
  record(address: string): void;
}

/** Who made a request, as the auth hook established it. */
export interface Principal {
  kind: 'api-key' | 'jwt' | 'anonymous';
  /** "key:<12 hex>" for a key and the tokens minted from it; "anonymous" with auth off */
  id: string;
  permissions: Permission[];
  /** the task types and pools the key is limited to; absent: unrestricted */
  scope?: KeyScope;
}

/** With [api.auth] disabled (development only), every caller is this. */
export const ANONYMOUS: Principal = { kind: 'anonymous', id: 'anonymous', permissions: ['Admin'] };

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
  interface FastifyContextConfig {
    access?: RouteAccess;
  }
}

interface StoredKey {
  id: string;
  hash: Buffer;
  permissions: Permission[];
  scope?: KeyScope;
}

/** A key's value in the config: its permissions, or permissions with task_types and pools. */
export type KeyGrant = readonly Permission[] | { permissions: readonly Permission[]; task_types?: readonly string[] | undefined; pools?: readonly string[] | undefined };

function storedKey(key: string, grant: KeyGrant): StoredKey {
  const hash = sha256(key);
  const id = KeyStore.idOf(hash);
  if (Array.isArray(grant)) return { id, hash, permissions: [...(grant as readonly Permission[])] };
  const { permissions, task_types: taskTypes, pools } = grant as Exclude<KeyGrant, readonly Permission[]>;
  const scope: KeyScope = { ...(taskTypes ? { taskTypes: [...taskTypes] } : {}), ...(pools ? { pools: [...pools] } : {}) };
  return { id, hash, permissions: [...permissions], ...(taskTypes || pools ? { scope } : {}) };
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/**
 * API keys, kept only as SHA-256 hashes and compared in constant time against every stored key, so
 * neither a timing difference nor a heap dump gives a key away. replace() swaps the set atomically
 * (POST /api/system/reload-config).
 */
export class KeyStore {
  #keys: StoredKey[] = [];

  constructor(keys: Record<string, KeyGrant>) {
    this.replace(keys);
  }

  replace(keys: Record<string, KeyGrant>): void {
    this.#keys = Object.entries(keys).map(([key, grant]) => storedKey(key, grant));
  }

  get size(): number {
    return this.#keys.length;
  }

  /** A stable, non-secret name for a key: a prefix of its hash. */
  static idOf(hash: Buffer): string {
    return `key:${hash.toString('hex').slice(0, 12)}`;
  }

  match(key: string): StoredKey | undefined {
    const hash = sha256(key);
    let found: StoredKey | undefined;
    for (const candidate of this.#keys) {
      if (timingSafeEqual(candidate.hash, hash) && !found) found = candidate;
    }
    return found;
  }

  byId(id: string): StoredKey | undefined {
    return this.#keys.find((k) => k.id === id);
  }
}

export class AuthError extends Error {
  readonly status: 401 | 403;
  readonly code: ErrorCode;
  constructor(status: 401 | 403, code: ErrorCode, message: string) {
    super(message);
    this.name = 'AuthError';
    this.status = status;
    this.code = code;
  }
}

/** The credential a client presented: `X-API-Key`, or `Authorization: Bearer <key or JWT>`. */
export function presentedCredential(request: FastifyRequest): string | undefined {
  const header = request.headers['x-api-key'];
  if (typeof header === 'string' && header) return header;
  const authorization = request.headers.authorization;
  const match = typeof authorization === 'string' ? /^Bearer\s+(\S+)$/i.exec(authorization) : null;
  return match?.[1];
}

export interface AuthOptions {
  enabled: () => boolean;
  keys: KeyStore;
  tokens: TokenService;
  /** failed attempts per client address, checked before any credential is */
  failures?: FailureLimiter;
}

/** The principal a stored key stands for (a key and the tokens minted from it alike). */
export function principalOf(kind: 'api-key' | 'jwt', key: StoredKey): Principal {
  return { kind, id: key.id, permissions: [...key.permissions], ...(key.scope ? { scope: key.scope } : {}) };
}

/**
 * Establishes the principal: an API key, or an access JWT minted from a key that is still configured
 * (removing a key revokes its tokens at the next reload). Throws AuthError(401) when nothing valid was sent.
 */
export async function authenticate(request: FastifyRequest, options: AuthOptions): Promise<Principal> {
  const credential = presentedCredential(request);
  if (!credential) {
    throw new AuthError(401, 'HG_ERR_AUTH_REQUIRED', 'credentials are required: send X-API-Key, or Authorization: Bearer <API key or access token>');
  }
  if (looksLikeJwt(credential) && options.tokens.enabled) {
    try {
      const claims = await options.tokens.verify(credential, 'access');
      // permissions are the key's as configured now, never a copy in the token: lowering or removing a
      // key (API_KEYS, api_keys_file + reload-config) takes effect on its tokens at once
      const key = options.keys.byId(claims.keyId);
      if (!key) throw new TokenError('the API key this token was issued for is no longer configured');
      return principalOf('jwt', key);
    } catch (error) {
      if (!(error instanceof TokenError)) throw error;
      throw new AuthError(401, error.expired ? 'HG_ERR_AUTH_TOKEN_EXPIRED' : 'HG_ERR_AUTH_INVALID', error.message);
    }
  }
  const key = options.keys.match(credential);
  if (!key) throw new AuthError(401, 'HG_ERR_AUTH_INVALID', 'the API key is not valid');
  return principalOf('api-key', key);
}

/**
 * The one authorisation hook: it decides on the route the router matched (its `access` in the route
 * table), never on the raw URL, so "/%61pi/tasks" is judged as /api/tasks. A path that matches no route
 * needs a valid credential too, so a 404 tells an anonymous caller nothing.
 */
export function installAuth(app: FastifyInstance, options: AuthOptions): void {
  app.decorateRequest('principal', undefined);
  app.addHook('onRequest', async (request) => {
    // CORS preflights carry no credentials by design; the CORS plugin answers them
    if (request.method === 'OPTIONS') return;
    const access: RouteAccess | undefined = request.routeOptions.config.access;
    if (access === 'public') return;
    if (!options.enabled()) {
      request.principal = ANONYMOUS;
      return;
    }
    // a brute-force guesser is stopped before its guess is even looked at
    options.failures?.assertAllowed(request.ip);
    let principal: Principal;
    try {
      principal = await authenticate(request, options);
    } catch (error) {
      if (error instanceof AuthError && error.code !== 'HG_ERR_AUTH_REQUIRED') options.failures?.record(request.ip);
      throw error;
    }
    request.principal = principal;
    if (access && !grants(principal.permissions, access)) {
      throw new AuthError(403, 'HG_ERR_AUTH_FORBIDDEN', `this credential lacks the ${access} permission (has: ${principal.permissions.join(', ') || 'none'})`);
    }
  });
}
