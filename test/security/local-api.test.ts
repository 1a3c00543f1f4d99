import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../../api/server.ts';
import { loadConfig, type Config } from '../../core/config/index.ts';
import { createMetrics } from '../../core/telemetry/metrics.ts';
import { coreOnTestDatabase, silentLogger } from '../support/core.ts';
import { skipUnless } from '../support/services.ts';

// issue 13 item 4: an unauthenticated API is reachable only from this machine, and not from a web
// page in a browser on this machine (DNS rebinding, cross-site form posts).

const skip = await skipUnless('postgres');

function devApi(edit: (api: Config['api']) => void = () => {}): Config['api'] {
  const { config } = loadConfig({ env: { ENVIRONMENT: 'development' } });
  assert.equal(config.api.auth.enabled, false, 'development runs without auth');
  edit(config.api);
  return config.api;
}

describe('an API without auth (development)', { skip }, () => {
  let env: Awaited<ReturnType<typeof coreOnTestDatabase>>;
  let app: FastifyInstance;
  before(async () => {
    env = await coreOnTestDatabase();
    app = await buildApi({ ctx: env.ctx, logger: silentLogger, version: 'test', metrics: createMetrics(), api: devApi() });
    const created = await app.inject({ method: 'POST', url: '/api/tasks', payload: { name: 'victim', type: 'noop', params: {} } });
    assert.equal(created.statusCode, 201, created.body);
  });
  after(async () => {
    await app?.close();
    await env?.close();
  });
  const runs = async () => ((await app.inject({ url: '/api/tasks/victim/runs' })).json() as { items: unknown[] }).items.length;

  it('answers only to a loopback Host name (DNS rebinding)', async () => {
    const shell = { name: 'rebound', type: 'shell', params: { command: 'id' } };
    const rebound = await app.inject({ method: 'POST', url: '/api/tasks', headers: { host: 'rebind.evil.example' }, payload: shell });
    assert.equal(rebound.statusCode, 403, rebound.body);
    assert.equal((rebound.json() as { code: string }).code, 'HG_ERR_HOST_NOT_LOOPBACK');
    for (const host of ['rebind.evil.example:8080', '10.0.0.5:8080', '127.0.0.1.evil.example', 'localhost.evil.example']) {
      assert.equal((await app.inject({ url: '/api/tasks', headers: { host } })).statusCode, 403, `Host: ${host}`);
    }
    assert.equal((await app.inject({ url: '/api/tasks/rebound' })).statusCode, 404, 'the task was not created');
    for (const host of ['localhost', 'localhost:8080', '127.0.0.1:8080', '[::1]:8080', 'app.localhost:8080']) {
      assert.equal((await app.inject({ url: '/api/tasks', headers: { host } })).statusCode, 200, `Host: ${host}`);
    }
  });

  it('refuses a cross-site trigger (Origin, Sec-Fetch-Site) and bodies that are not JSON', async () => {
    const before = await runs();
    const crossSite = await app.inject({
      method: 'POST', url: '/api/tasks/victim/trigger',
      headers: { origin: 'https://evil.example', 'content-type': 'text/plain' }, payload: '{}',
    });
    assert.equal(crossSite.statusCode, 403, crossSite.body);
    assert.equal((crossSite.json() as { code: string }).code, 'HG_ERR_CROSS_SITE');
    const fetchMeta = await app.inject({ method: 'POST', url: '/api/tasks/victim/trigger', headers: { 'sec-fetch-site': 'cross-site' } });
    assert.equal(fetchMeta.statusCode, 403);
    const nullOrigin = await app.inject({ method: 'POST', url: '/api/tasks/victim/trigger', headers: { origin: 'null' } });
    assert.equal(nullOrigin.statusCode, 403, 'a sandboxed frame sends Origin: null');
    const plain = await app.inject({ method: 'POST', url: '/api/tasks/victim/trigger', headers: { 'content-type': 'text/plain' }, payload: '{}' });
    assert.equal(plain.statusCode, 415, 'a form-encodable body type (no CORS preflight) is refused');
    const form = await app.inject({ method: 'POST', url: '/api/tasks', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'name=x' });
    assert.equal(form.statusCode, 415);
    assert.equal(await runs(), before, 'no run was made');
    const local = await app.inject({ method: 'POST', url: '/api/tasks/victim/trigger', headers: { origin: 'http://localhost:8080', 'sec-fetch-site': 'same-origin' } });
    assert.equal(local.statusCode, 201, local.body);
    assert.equal(await runs(), before + 1);
  });

  it('refuses to start on a non-loopback address without auth, and starts with auth on', async () => {
    for (const bind of ['0.0.0.0:8080', '[::]:8080', '192.168.1.10:8080']) {
      await assert.rejects(
        buildApi({ ctx: env.ctx, logger: silentLogger, version: 'test', metrics: createMetrics(), api: devApi((a) => (a.bind_address = bind)) }),
        (error: Error & { problems?: Array<{ path: string }> }) => error.problems?.[0]?.path === 'api.bind_address' && /auth/.test(error.message),
        bind,
      );
    }
    const secured = await buildApi({
      ctx: env.ctx, logger: silentLogger, version: 'test', metrics: createMetrics(),
      api: devApi((a) => { a.bind_address = '0.0.0.0:8080'; a.auth.enabled = true; }),
    });
    // with auth on a Host header is no longer the only thing between a page and the API: any Host may ask
    assert.equal((await secured.inject({ url: '/api/tasks', headers: { host: 'scheduler.example.com' } })).statusCode, 401);
    await secured.close();
  });

  it('the compose files turn auth on through API_AUTH_ENABLED', () => {
    const { config } = loadConfig({ env: { ENVIRONMENT: 'development', API_AUTH_ENABLED: 'true', API_BIND_ADDRESS: '0.0.0.0:8080' } });
    assert.equal(config.api.auth.enabled, true);
  });
});
