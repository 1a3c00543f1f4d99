import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { PERMISSIONS } from '../core/config/index.ts';

export type Permission = (typeof PERMISSIONS)[number];

/** routes that never need a key: liveness, readiness and metrics (scraped by Prometheus) */
const OPEN_ROUTES: ReadonlySet<string> = new Set(['/health', '/ready', '/metrics']);

interface StoredKey {
  hash: Buffer;
  permissions: ReadonlySet<Permission>;
}

/** The permission a request needs, from its method and path (the first slice of the API). */
export function requiredPermission(method: string, path: string): Permission {
  const prefix = path.startsWith('/api/workers') || path.startsWith('/api/pools') ? 'Worker' : path.startsWith('/api/system') ? 'System' : 'Task';
  if (method === 'GET' || method === 'HEAD') return `${prefix}Read` as Permission;
  if (method === 'DELETE' && prefix === 'Task') return 'TaskDelete';
  return `${prefix}Write` as Permission;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** The key a client presented: `X-API-Key`, or `Authorization: Bearer <key>`. */
function presentedKey(request: FastifyRequest): string | undefined {
  const header = request.headers['x-api-key'];
  if (typeof header === 'string' && header) return header;
  const authorization = request.headers.authorization;
  const match = typeof authorization === 'string' ? /^Bearer\s+(\S+)$/i.exec(authorization) : null;
  return match?.[1];
}

/**
 * API-key authentication for /api. Keys are kept only as SHA-256 hashes and compared in constant time
 * against every stored key, so neither a timing difference nor a heap dump gives a key away.
 */
export function installApiKeyAuth(app: FastifyInstance, keys: Record<string, Permission[]>): void {
  const stored: StoredKey[] = Object.entries(keys).map(([key, permissions]) => ({ hash: sha256(key), permissions: new Set(permissions) }));
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    // Decide on the route the router matched, never on the raw URL: "/%61pi/tasks" routes to /api/tasks.
    // Only the open routes are exempt; an unmatched path is refused too, so a 404 tells nothing.
    const path = request.routeOptions.url ?? '';
    // CORS preflights carry no credentials by design; the CORS plugin answers them
    if (OPEN_ROUTES.has(path) || request.method === 'OPTIONS') return;
    const key = presentedKey(request);
    const hash = key ? sha256(key) : undefined;
    let match: StoredKey | undefined;
    for (const candidate of stored) {
      if (hash && timingSafeEqual(candidate.hash, hash) && !match) match = candidate;
    }
    if (!match) {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="hourglass"')
        .type('application/problem+json')
        .send({
          type: 'about:blank', title: 'Unauthorized', status: 401, code: 'HG_ERR_AUTH_REQUIRED',
          detail: key ? 'the API key is not valid' : 'an API key is required: send X-API-Key or Authorization: Bearer <key>',
        });
    }
    const needed = requiredPermission(request.method, path);
    if (!match.permissions.has('Admin') && !match.permissions.has(needed)) {
      return reply.code(403).type('application/problem+json').send({
        type: 'about:blank', title: 'Forbidden', status: 403, code: 'HG_ERR_AUTH_FORBIDDEN',
        detail: `this API key lacks the ${needed} permission`,
      });
    }
  });
}
