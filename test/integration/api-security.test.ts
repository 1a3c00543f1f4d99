import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { request as httpsRequest } from 'node:https';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../../api/server.ts';
import { loadConfig, type Config } from '../../core/config/index.ts';
import { createMetrics } from '../../core/telemetry/metrics.ts';
import { coreOnTestDatabase, silentLogger } from '../support/core.ts';
import { skipUnless } from '../support/services.ts';

const skip = await skipUnless('postgres');

function apiConfig(edit: (api: Config['api']) => void): Config['api'] {
  const { config } = loadConfig({ env: { API_KEYS: JSON.stringify({ 'admin-key': ['Admin'], 'reader-key': ['TaskRead', 'WorkerRead'] }) } });
  config.api.auth.enabled = true;
  edit(config.api);
  return config.api;
}

describe('API security', { skip }, () => {
  let env: Awaited<ReturnType<typeof coreOnTestDatabase>>;
  const apps: FastifyInstance[] = [];
  const start = async (api: Config['api']) => {
    const app = await buildApi({ ctx: env.ctx, logger: silentLogger, version: 'test', metrics: createMetrics(), api });
    apps.push(app);
    return app;
  };
  before(async () => (env = await coreOnTestDatabase()));
  after(async () => {
    for (const app of apps) await app.close();
    await env?.close();
  });

  it('requires an API key on /api, never on /health, and checks permissions', async () => {
    const app = await start(apiConfig(() => {}));
    assert.equal((await app.inject({ url: '/health' })).statusCode, 200);
    const none = await app.inject({ url: '/api/tasks' });
    assert.equal(none.statusCode, 401);
    assert.equal((none.json() as { code: string }).code, 'HG_ERR_AUTH_REQUIRED');
    assert.match(none.headers['www-authenticate'] as string, /Bearer/);
    assert.equal((await app.inject({ url: '/api/tasks', headers: { 'x-api-key': 'guess' } })).statusCode, 401);
    for (const sneaky of ['/%61pi/tasks', '/API/tasks', '//api/tasks', '/api/tasks/../tasks', '/nope']) {
      assert.equal((await app.inject({ url: sneaky })).statusCode, 401, `${sneaky} needs a key too`);
    }
    assert.equal((await app.inject({ url: '/metrics' })).statusCode, 200);
    assert.equal((await app.inject({ url: '/api/tasks', headers: { 'x-api-key': 'reader-key' } })).statusCode, 200);
    assert.equal((await app.inject({ url: '/api/tasks', headers: { authorization: 'Bearer reader-key' } })).statusCode, 200);
    const body = { name: 'secured', type: 'noop', params: {} };
    const forbidden = await app.inject({ method: 'POST', url: '/api/tasks', headers: { 'x-api-key': 'reader-key' }, payload: body });
    assert.equal(forbidden.statusCode, 403);
    assert.match((forbidden.json() as { detail: string }).detail, /TaskWrite/);
    assert.equal((await app.inject({ method: 'POST', url: '/api/tasks', headers: { 'x-api-key': 'admin-key' }, payload: body })).statusCode, 201);
    assert.equal((await app.inject({ method: 'DELETE', url: '/api/tasks/secured', headers: { 'x-api-key': 'reader-key' } })).statusCode, 403);
    assert.equal((await app.inject({ method: 'DELETE', url: '/api/tasks/secured', headers: { 'x-api-key': 'admin-key' } })).statusCode, 204);
  });

  it('protects /metrics when api.metrics_require_auth is set', async () => {
    const app = await start(apiConfig((api) => {
      api.metrics_require_auth = true;
      api.auth.api_keys = { 'system-key': ['SystemRead'], 'task-key': ['TaskRead'] };
    }));
    assert.equal((await app.inject({ url: '/metrics' })).statusCode, 401);
    assert.equal((await app.inject({ url: '/metrics', headers: { 'x-api-key': 'task-key' } })).statusCode, 403);
    const scraped = await app.inject({ url: '/metrics', headers: { authorization: 'Bearer system-key' } });
    assert.equal(scraped.statusCode, 200);
    assert.match(scraped.body, /^# TYPE workers_alive gauge$/m);
    assert.equal((await app.inject({ url: '/health' })).statusCode, 200);
  });

  it('answers CORS preflights for configured origins only', async () => {
    const app = await start(apiConfig((api) => {
      api.auth.enabled = false;
      api.cors_enabled = true;
      api.cors_origins = ['https://ui.example.com'];
    }));
    const preflight = (origin: string) =>
      app.inject({ method: 'OPTIONS', url: '/api/tasks', headers: { origin, 'access-control-request-method': 'POST' } });
    assert.equal((await preflight('https://ui.example.com')).headers['access-control-allow-origin'], 'https://ui.example.com');
    assert.equal((await preflight('https://evil.example.com')).headers['access-control-allow-origin'], undefined);
  });

  it('limits the request rate per client with 429 and Retry-After', async () => {
    const app = await start(apiConfig((api) => {
      api.auth.enabled = false;
      api.rate_limiting = { enabled: true, max_requests_per_minute: 3, burst_size: 1 };
    }));
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await app.inject({ url: '/api/tasks' })).statusCode);
    assert.deepEqual(statuses, [200, 200, 200, 200, 429, 429]);
    const limited = await app.inject({ url: '/api/tasks' });
    assert.ok(Number(limited.headers['retry-after']) > 0);
    assert.equal((await app.inject({ url: '/health' })).statusCode, 200, '/health is never limited');
  });

  it('counts clients behind a trusted proxy by X-Forwarded-For, and ignores it from anyone else', async () => {
    const app = await start(apiConfig((api) => {
      api.auth.enabled = false;
      api.trusted_proxies = ['10.0.0.0/8'];
      api.rate_limiting = { enabled: true, max_requests_per_minute: 1, burst_size: 0 };
    }));
    const get = (remoteAddress: string, forwardedFor: string) => app.inject({ url: '/api/tasks', remoteAddress, headers: { 'x-forwarded-for': forwardedFor } }).then((r) => r.statusCode);
    assert.deepEqual([await get('10.1.1.1', '203.0.113.1'), await get('10.1.1.1', '203.0.113.2'), await get('10.1.1.1', '203.0.113.1')], [200, 200, 429], 'one bucket per real client');
    assert.deepEqual([await get('192.0.2.9', '203.0.113.3'), await get('192.0.2.9', '203.0.113.4')], [200, 429], 'an untrusted peer cannot pick its own bucket');
  });

  it('refuses a JSON body over max_json_payload_size_mb with 413', async () => {
    const app = await start(apiConfig((api) => {
      api.auth.enabled = false;
      api.security.max_json_payload_size_mb = 1;
    }));
    const big = { name: 'big', type: 'noop', params: { blob: 'x'.repeat(1_100_000) } };
    const response = await app.inject({ method: 'POST', url: '/api/tasks', payload: big });
    assert.equal(response.statusCode, 413);
    assert.match(response.headers['content-type'] as string, /problem\+json/);
  });

  it('serves HTTPS from [api.tls]', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'hg-tls-'));
    try {
      const key = path.join(dir, 'key.pem');
      const cert = path.join(dir, 'cert.pem');
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
      const app = await start(apiConfig((api) => {
        api.auth.enabled = false;
        api.tls = { enabled: true, cert_file: cert, key_file: key, ca_file: '' };
      }));
      await app.listen({ host: '127.0.0.1', port: 0 });
      const port = (app.server.address() as { port: number }).port;
      const body = await new Promise<string>((resolve, reject) => {
        httpsRequest({ host: '127.0.0.1', port, path: '/health', rejectUnauthorized: false }, (res) => {
          let data = '';
          res.on('data', (chunk) => (data += chunk));
          res.on('end', () => resolve(data));
        }).on('error', reject).end();
      });
      assert.equal((JSON.parse(body) as { status: string }).status, 'ok');
      await assert.rejects(
        start(apiConfig((api) => (api.tls = { enabled: true, cert_file: path.join(dir, 'missing.pem'), key_file: key, ca_file: '' }))),
        /api\.tls\.cert_file: cannot read .*missing\.pem/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
