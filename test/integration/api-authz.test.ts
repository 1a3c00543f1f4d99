import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { SignJWT } from 'jose';
import { KeyStore } from '../../api/auth.ts';
import { grants, PERMISSIONS, type Permission } from '../../api/permissions.ts';
import type { ApiRoute } from '../../api/route.ts';
import { buildApi } from '../../api/server.ts';
import { loadConfig } from '../../core/config/index.ts';
import { createMetrics } from '../../core/telemetry/metrics.ts';
import { createHash } from 'node:crypto';
import { coreOnTestDatabase, silentLogger } from '../support/core.ts';
import { skipUnless } from '../support/services.ts';

const skip = await skipUnless('postgres');

const SECRET = 'test-secret-that-is-long-enough-for-hs256-0123456789';
/** one key per permission, named after it */
const KEYS: Record<string, Permission[]> = Object.fromEntries(PERMISSIONS.map((p) => [`key-${p}`, [p]]));

/**
 * What a request with an empty body must get when auth lets it through: anything but 401/403 from the
 * route, except the exchanges, which judge the credential themselves: /token mints from a valid
 * X-API-Key (200) and refuses anything else (401); /refresh without a refresh token is a 400.
 */
function expectAccess(route: ApiRoute, status: number, what: string, validKeyHeader: boolean): void {
  if (route.url === '/api/auth/refresh') assert.equal(status, 400, what);
  else if (route.url === '/api/auth/token') assert.equal(status, validKeyHeader ? 200 : 401, what);
  else assert.ok(![401, 403].includes(status), `${what}: ${status}`);
}

function concrete(url: string): string {
  return url.replace(/:(\w+)/g, 'matrix-missing');
}

function keyId(key: string): string {
  return KeyStore.idOf(createHash('sha256').update(key).digest());
}

async function jwt(secret: string, claims: { perms: Permission[]; typ: string; sub: string }, expiresAt: number): Promise<string> {
  return new SignJWT({ perms: claims.perms, typ: claims.typ })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(claims.sub)
    .setIssuer('hourglass')
    .setAudience('hourglass-api')
    .setIssuedAt()
    .setExpirationTime(expiresAt)
    .sign(new TextEncoder().encode(secret));
}

describe('authorisation matrix, built from the route table', { skip }, () => {
  let env: Awaited<ReturnType<typeof coreOnTestDatabase>>;
  let app: FastifyInstance;
  let routes: readonly ApiRoute[];
  // each refused request from its own address: failed authentications are limited per address (api/auth-failures.ts)
  let client = 0;
  const send = (route: ApiRoute, headers: Record<string, string>) =>
    app.inject({
      method: route.method,
      url: concrete(route.url),
      headers,
      remoteAddress: `198.51.100.${(client++ % 250) + 1}`,
      ...(route.method === 'GET' ? {} : { payload: {} }),
    });

  before(async () => {
    env = await coreOnTestDatabase();
    const { config } = loadConfig({ env: { API_KEYS: JSON.stringify(KEYS), JWT_SECRET: SECRET } });
    config.api.auth.enabled = true;
    config.api.rate_limiting.enabled = false;
    app = await buildApi({ ctx: env.ctx, logger: silentLogger, version: 'test', metrics: createMetrics(), api: config.api });
    routes = app.routeTable;
  });
  after(async () => {
    await app?.close();
    await env?.close();
  });

  it('refuses every non-public route without credentials (401), and never asks for them on public ones', async () => {
    for (const route of routes) {
      const response = await send(route, {});
      if (route.access === 'public') expectAccess(route, response.statusCode, `${route.method} ${route.url}`, false);
      else {
        assert.equal(response.statusCode, 401, `${route.method} ${route.url}`);
        assert.equal(response.json().code, 'HG_ERR_AUTH_REQUIRED');
        assert.match(response.headers['content-type'] as string, /problem\+json/);
      }
    }
  });

  for (const permission of PERMISSIONS) {
    it(`gives a key with only ${permission} exactly the routes that permission grants`, async () => {
      for (const route of routes) {
        const response = await send(route, { 'x-api-key': `key-${permission}` });
        const allowed = grants([permission], route.access);
        if (allowed) expectAccess(route, response.statusCode, `${permission} -> ${route.method} ${route.url}`, true);
        else {
          assert.equal(response.statusCode, 403, `${permission} -> ${route.method} ${route.url}`);
          assert.equal(response.json().code, 'HG_ERR_AUTH_FORBIDDEN');
          assert.match(response.json().detail, new RegExp(route.access));
        }
      }
    });
  }

  it('treats an access token like the key it was minted from', async () => {
    const issued = await app.inject({ method: 'POST', url: '/api/auth/token', payload: { apiKey: 'key-TaskRead' } });
    assert.equal(issued.statusCode, 200);
    const { accessToken, refreshToken, expiresIn, permissions } = issued.json() as { accessToken: string; refreshToken: string; expiresIn: number; permissions: string[] };
    assert.equal(expiresIn, 24 * 3600, 'api.auth.jwt_expiration_hours');
    assert.deepEqual(permissions, ['TaskRead']);
    for (const route of routes) {
      const response = await send(route, { authorization: `Bearer ${accessToken}` });
      if (grants(['TaskRead'], route.access)) expectAccess(route, response.statusCode, `${route.method} ${route.url}`, false);
      else assert.equal(response.statusCode, 403, `${route.method} ${route.url}`);
    }
    const whoami = (await app.inject({ url: '/api/auth/whoami', headers: { authorization: `Bearer ${accessToken}` } })).json();
    assert.deepEqual(whoami, { kind: 'jwt', id: keyId('key-TaskRead'), permissions: ['TaskRead'], authEnabled: true });

    // a refresh token is not an access token, but buys a new one
    assert.equal((await app.inject({ url: '/api/tasks', headers: { authorization: `Bearer ${refreshToken}` } })).statusCode, 401);
    const refreshed = await app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refreshToken } });
    assert.equal(refreshed.statusCode, 200);
    const fresh = (refreshed.json() as { accessToken: string }).accessToken;
    assert.equal((await app.inject({ url: '/api/tasks', headers: { authorization: `Bearer ${fresh}` } })).statusCode, 200);
    assert.equal((await app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refreshToken: accessToken } })).statusCode, 401);
    assert.equal((await app.inject({ method: 'POST', url: '/api/auth/token', payload: { apiKey: 'nope' } })).statusCode, 401);
  });

  it('refuses expired, forged, tampered and foreign-key tokens on every non-public route', async () => {
    const now = Math.floor(Date.now() / 1000);
    const sub = keyId('key-Admin');
    const cases: Array<[string, string, string]> = [
      ['expired', await jwt(SECRET, { perms: ['Admin'], typ: 'access', sub }, now - 60), 'HG_ERR_AUTH_TOKEN_EXPIRED'],
      ['forged (other secret)', await jwt('another-secret-of-sufficient-length-000000000', { perms: ['Admin'], typ: 'access', sub }, now + 600), 'HG_ERR_AUTH_INVALID'],
      ['for a key that is not configured', await jwt(SECRET, { perms: ['Admin'], typ: 'access', sub: 'key:000000000000' }, now + 600), 'HG_ERR_AUTH_INVALID'],
      ['alg none', `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub, perms: ['Admin'], typ: 'access', exp: now + 600 })).toString('base64url')}.x`, 'HG_ERR_AUTH_INVALID'],
    ];
    const valid = await jwt(SECRET, { perms: ['TaskRead'], typ: 'access', sub: keyId('key-TaskRead') }, now + 600);
    const [header, payload, signature] = valid.split('.');
    const elevated = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload as string, 'base64url').toString()), perms: ['Admin'] })).toString('base64url');
    cases.push(['tampered (permissions raised)', `${header}.${elevated}.${signature}`, 'HG_ERR_AUTH_INVALID']);
    for (const [what, token, code] of cases) {
      for (const route of routes.filter((r) => r.access !== 'public')) {
        const response = await send(route, { authorization: `Bearer ${token}` });
        assert.equal(response.statusCode, 401, `${what}: ${route.method} ${route.url}`);
        assert.equal(response.json().code, code, `${what}: ${route.method} ${route.url}`);
      }
    }
  });
});
