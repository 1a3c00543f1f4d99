import { readFileSync } from 'node:fs';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../core/config/index.ts';
import { ValidationError } from '../core/model/index.ts';

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

/** CORS and rate limiting as [api] and [api.security] configure them. */
export async function installHttpPolicies(app: FastifyInstance, api: ApiConfig): Promise<void> {
  if (api.cors_enabled) {
    await app.register(cors, { origin: api.cors_origins, maxAge: api.security.cors_max_age_seconds });
  }
  if (api.rate_limiting.enabled) {
    await app.register(rateLimit, {
      // a fixed one-minute window that admits the sustained rate plus one burst
      max: api.rate_limiting.max_requests_per_minute + api.rate_limiting.burst_size,
      timeWindow: 60_000,
      allowList: (request) => request.url === '/health' || request.url === '/ready',
      // by client address: keying on a presented credential would let a client mint a fresh bucket per request
      keyGenerator: (request) => request.ip,
    });
  }
}
