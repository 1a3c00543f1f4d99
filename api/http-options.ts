import { readFileSync } from 'node:fs';
import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import type { Config } from '../core/config/index.ts';
import { ValidationError } from '../core/model/index.ts';
import { DOCS_UI_PREFIX } from './route-table.ts';
import type { LiveSettings } from './settings.ts';

type ApiConfig = Config['api'];

/** HTTPS options from [api.tls]; a CA file turns on verification of client certificates. */
export function tlsOptions(tls: ApiConfig['tls']): { cert: Buffer; key: Buffer; ca?: Buffer; requestCert?: boolean; rejectUnauthorized?: boolean } | undefined {
  if (!tls.enabled) return undefined;
  const read = (key: 'cert_file' | 'key_file' | 'ca_file') => {
    try {
      return readFileSync(tls[key]);
    } catch (error) {
      throw new ValidationError('invalid configuration', [{ path: `api.tls.${key}`, message: `cannot read ${tls[key]}: ${(error as Error).message}` }]);
    }
  };
  const base = { cert: read('cert_file'), key: read('key_file') };
  return tls.ca_file ? { ...base, ca: read('ca_file'), requestCert: true, rejectUnauthorized: true } : base;
}

const UNLIMITED = new Set(['/health', '/ready', '/metrics']);

/**
 * Security headers, CORS and rate limiting. CORS and the rate limit read the live settings on every
 * request, so POST /api/system/reload-config changes them without a restart.
 */
export async function installHttpPolicies(app: FastifyInstance, settings: () => LiveSettings, redis?: Redis): Promise<void> {
  await app.register(helmet, {
    // a JSON API needs no script sources; the docs UI (swagger-ui) brings its own CSP for its page
    contentSecurityPolicy: { directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    // HSTS only means something over TLS, and harms nothing there
    hsts: { maxAge: 15_552_000, includeSubDomains: true },
  });
  app.addHook('onRequest', async (request, reply) => {
    // swagger-ui's page needs scripts and styles from its own origin; helmet's API policy would block them
    if ((request.routeOptions.url ?? '').startsWith(DOCS_UI_PREFIX)) reply.removeHeader('content-security-policy');
  });
  await app.register(cors, {
    delegator: (request, callback) => {
      const { cors: c } = settings();
      const origin = request.headers.origin;
      callback(null, { origin: c.enabled && typeof origin === 'string' && (c.origins.includes('*') || c.origins.includes(origin)) ? origin : false, maxAge: c.maxAgeSeconds });
    },
  });
  await app.register(rateLimit, {
    global: true,
    // after authentication, so an authenticated client is limited per credential: a key and the tokens
    // minted from it share one bucket. Unauthenticated callers are limited per address.
    hook: 'preHandler',
    // a fixed one-minute window that admits the sustained rate plus one burst
    max: () => {
      const { rateLimit: r } = settings();
      return r.perMinute + r.burst;
    },
    timeWindow: 60_000,
    allowList: (request: FastifyRequest) => !settings().rateLimit.enabled || UNLIMITED.has(request.routeOptions.url ?? ''),
    keyGenerator: (request: FastifyRequest) => (request.principal && request.principal.kind !== 'anonymous' ? request.principal.id : `ip:${request.ip}`),
    ...(redis ? { redis, nameSpace: 'hourglass-ratelimit-', skipOnError: true } : {}),
  });
}
