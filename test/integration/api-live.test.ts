import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { buildApi } from '../../api/server.ts';
import { loadConfig, type Config } from '../../core/config/index.ts';
import { createLogger } from '../../core/telemetry/logger.ts';
import { createMetrics } from '../../core/telemetry/metrics.ts';
import { startScheduler } from '../../cli/runtime.ts';
import { coreOnTestDatabase, silentLogger } from '../support/core.ts';
import { createTestDatabase, SERVICE_URLS, skipUnless, uniqueNamespace } from '../support/services.ts';

const skip = await skipUnless('postgres');
const redisSkip = skip || (await skipUnless('redis'));

function apiConfig(edit: (api: Config['api']) => void): Config['api'] {
  const { config } = loadConfig({ env: { API_KEYS: JSON.stringify({ 'admin-key': ['Admin'] }) } });
  config.api.auth.enabled = false;
  edit(config.api);
  return config.api;
}

describe('API policies against a listening server', { skip }, () => {
  let env: Awaited<ReturnType<typeof coreOnTestDatabase>>;
  const apps: FastifyInstance[] = [];
  const redises: Redis[] = [];
  const listen = async (api: Config['api'], extra: { redis?: Redis } = {}) => {
    const app = await buildApi({ ctx: env.ctx, logger: silentLogger, version: 'test', metrics: createMetrics(), api, ...extra });
    apps.push(app);
    await app.listen({ host: '127.0.0.1', port: 0 });
    return `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  };
  before(async () => (env = await coreOnTestDatabase()));
  after(async () => {
    for (const app of apps) await app.close();
    for (const redis of redises) redis.disconnect();
    await env?.close();
  });

  it('limits per client with 429, Retry-After and problem+json; probes are never limited', async () => {
    const url = await listen(apiConfig((api) => (api.rate_limiting = { enabled: true, max_requests_per_minute: 2, burst_size: 1 })));
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await fetch(`${url}/api/tasks`)).status);
    assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
    const limited = await fetch(`${url}/api/tasks`);
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    assert.match(limited.headers.get('content-type') ?? '', /problem\+json/);
    assert.equal(((await limited.json()) as { code: string }).code, 'HG_ERR_HTTP_429');
    assert.equal((await fetch(`${url}/health`)).status, 200);
    assert.equal((await fetch(`${url}/ready`)).status, 200);
  });

  it('keys the limit on the credential once authenticated: two keys from one address get a bucket each', async () => {
    const url = await listen(apiConfig((api) => {
      api.auth.enabled = true;
      api.auth.api_keys = { 'key-one': ['TaskRead'], 'key-two': ['TaskRead'] };
      api.rate_limiting = { enabled: true, max_requests_per_minute: 2, burst_size: 0 };
    }));
    const get = (key: string) => fetch(`${url}/api/tasks`, { headers: { 'x-api-key': key } }).then((r) => r.status);
    assert.deepEqual([await get('key-one'), await get('key-one'), await get('key-one')], [200, 200, 429]);
    assert.deepEqual([await get('key-two'), await get('key-two')], [200, 200]);
  });

  it('shares one limit between two replicas through Redis', { skip: redisSkip }, async () => {
    const namespace = uniqueNamespace('rl');
    const api = apiConfig((a) => (a.rate_limiting = { enabled: true, max_requests_per_minute: 3, burst_size: 0 }));
    // a unique address per test run would need a proxy; a unique Redis db prefix keeps runs apart instead
    const connect = () => {
      const redis = new Redis(SERVICE_URLS.redis, { keyPrefix: `${namespace}:`, maxRetriesPerRequest: 1 });
      redises.push(redis);
      return redis;
    };
    const one = await listen(api, { redis: connect() });
    const two = await listen(api, { redis: connect() });
    const statuses: number[] = [];
    for (const url of [one, two, one, two, one]) statuses.push((await fetch(`${url}/api/tasks`)).status);
    assert.deepEqual(statuses, [200, 200, 200, 429, 429], 'the third request overall spends the shared budget');
  });

  it('answers CORS for configured origins only, over the wire', async () => {
    const url = await listen(apiConfig((api) => {
      api.cors_enabled = true;
      api.cors_origins = ['https://ui.example.com'];
    }));
    const preflight = (origin: string) => fetch(`${url}/api/tasks`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST' } });
    const allowed = await preflight('https://ui.example.com');
    assert.equal(allowed.headers.get('access-control-allow-origin'), 'https://ui.example.com');
    assert.equal((await preflight('https://evil.example.com')).headers.get('access-control-allow-origin'), null);
  });

  it('sends security headers and refuses oversized bodies with 413 problem+json', async () => {
    const url = await listen(apiConfig((api) => (api.security.max_json_payload_size_mb = 1)));
    const health = await fetch(`${url}/health`);
    assert.equal(health.headers.get('x-content-type-options'), 'nosniff');
    assert.match(health.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    assert.equal(health.headers.get('x-powered-by'), null);
    const secured = await listen(apiConfig((api) => {
      api.auth.enabled = true;
      api.cors_origins = ['https://ui.example.com'];
    }));
    const refused = await fetch(`${secured}/api/tasks`, { headers: { origin: 'https://ui.example.com' } });
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get('x-content-type-options'), 'nosniff', 'refusals carry the security headers');
    assert.equal(refused.headers.get('access-control-allow-origin'), 'https://ui.example.com', 'a browser can read the 401');
    const big = await fetch(`${url}/api/tasks`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'big', type: 'noop', params: { blob: 'x'.repeat(1_100_000) } }),
    });
    assert.equal(big.status, 413);
    assert.match(big.headers.get('content-type') ?? '', /problem\+json/);
    assert.equal(((await big.json()) as { code: string }).code, 'HG_ERR_HTTP_413');
  });

  it('serves HTTPS and, with api.tls.ca_file, admits only clients holding a certificate from that CA', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'hg-mtls-'));
    const file = (name: string) => path.join(dir, name);
    const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore', cwd: dir });
    try {
      openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=hourglass-test-ca');
      for (const [name, cn] of [['server', 'localhost'], ['client', 'a-client']]) {
        openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
        openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '1');
      }
      const url = await listen(apiConfig((api) => (api.tls = { enabled: true, cert_file: file('server.pem'), key_file: file('server.key'), ca_file: file('ca.pem') })));
      const port = Number(new URL(url).port);
      const get = (client: { cert?: Buffer; key?: Buffer }) =>
        new Promise<number>((resolve, reject) => {
          httpsRequest({ host: '127.0.0.1', port, path: '/health', ca: readFileSync(file('ca.pem')), servername: 'localhost', ...client }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          }).on('error', reject).end();
        });
      assert.equal(await get({ cert: readFileSync(file('client.pem')), key: readFileSync(file('client.key')) }), 200);
      await assert.rejects(get({}), 'a client without a certificate is refused during the handshake');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('never writes a credential to the log', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'trace', format: 'json', destination: new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } }) });
    logger.info({ req: { headers: { authorization: 'Bearer secret-token-1', 'x-api-key': 'secret-key-2' } }, api: { auth: { jwt_secret: 'secret-jwt-3', api_keys: { 'secret-key-4': ['Admin'] } } } }, 'request');
    const app = await buildApi({ ctx: env.ctx, logger, version: 'test', metrics: createMetrics(), api: apiConfig((api) => { api.auth.enabled = true; api.auth.api_keys = { 'secret-key-5': ['Admin'] }; }) });
    apps.push(app);
    await app.inject({ url: '/api/tasks', headers: { 'x-api-key': 'secret-key-5' } });
    await app.inject({ url: '/api/tasks', headers: { 'x-api-key': 'secret-wrong-6' } });
    const text = lines.join('');
    assert.ok(text.length > 0);
    assert.doesNotMatch(text, /secret-(token|key|jwt|wrong)-\d/);
  });
});

describe('POST /api/system/reload-config against a running scheduler', { skip }, () => {
  let dir: string;
  let db: { url: string; drop: () => Promise<void> };
  let running: Awaited<ReturnType<typeof startScheduler>> | undefined;
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'hg-reload-'));
    db = await createTestDatabase();
  });
  after(async () => {
    await running?.stop();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('applies API keys, rate limits, CORS and log level live, and lists what needs a restart', async () => {
    const file = path.join(dir, 'extra.toml');
    const write = (keys: string, perMinute: number, origin: string, level: string, maxConnections: number, auth = true) =>
      writeFileSync(file, [
        `[database]\nmax_connections = ${maxConnections}`,
        `[observability]\nlog_level = "${level}"`,
        `[api]\nbind_address = "127.0.0.1:0"\ncors_origins = ["${origin}"]`,
        `[api.auth]\nenabled = ${auth}\n[api.auth.api_keys]\n${keys}`,
        `[api.rate_limiting]\nenabled = true\nmax_requests_per_minute = ${perMinute}\nburst_size = 0`,
      ].join('\n'));
    write('"old-key" = ["Admin"]', 1000, 'https://a.example.com', 'warn', 5);
    running = await startScheduler({
      mode: 'api', configFiles: [file], dataDir: dir,
      env: { DATABASE_URL: db.url, MESSAGE_QUEUE_TYPE: 'postgres', LOG_LEVEL: undefined, API_KEYS: undefined, JWT_SECRET: undefined },
      logFormat: 'json',
    });
    const url = running.apiUrl as string;
    const get = (key: string, origin?: string) => fetch(`${url}/api/tasks`, { headers: { 'x-api-key': key, ...(origin ? { origin } : {}) } });
    assert.equal((await get('old-key')).status, 200);
    assert.equal((await get('new-key')).status, 401);
    const info = (await (await fetch(`${url}/api/system/info`, { headers: { 'x-api-key': 'old-key' } })).json()) as { mode: string; config: { api: { auth: { api_keys: Record<string, string[]> } } } };
    assert.equal(info.mode, 'api');
    assert.deepEqual(info.config.api.auth.api_keys, { '***1': ['Admin'] }, 'the effective config never shows a key');

    write('"new-key" = ["Admin"]', 3, 'https://b.example.com', 'error', 7, false);
    const reloaded = await fetch(`${url}/api/system/reload-config`, { method: 'POST', headers: { 'x-api-key': 'old-key' } });
    assert.equal(reloaded.status, 200);
    const result = (await reloaded.json()) as { changed: string[]; needsRestart: string[] };
    for (const key of ['api.auth.api_keys', 'api.rate_limiting.max_requests_per_minute', 'api.cors_origins', 'observability.log_level']) {
      assert.ok(result.changed.includes(key), `${key} in ${JSON.stringify(result.changed)}`);
    }
    for (const key of ['database.max_connections', 'api.auth.enabled']) assert.ok(result.needsRestart.includes(key), `${key} in ${JSON.stringify(result.needsRestart)}`);
    assert.doesNotMatch(JSON.stringify(result), /new-key|old-key/, 'keys are never named');
    assert.equal(running.logger.level, 'error');

    assert.equal((await get('old-key')).status, 401, 'a removed key stops working at once');
    assert.equal((await fetch(`${url}/api/tasks`)).status, 401, 'auth stays on until a restart');
    const cors = await get('new-key', 'https://b.example.com');
    assert.equal(cors.status, 200);
    assert.equal(cors.headers.get('access-control-allow-origin'), 'https://b.example.com');
    assert.equal((await get('new-key', 'https://a.example.com')).headers.get('access-control-allow-origin'), null);
    // a broken file is refused naming the field, and nothing of it is applied
    writeFileSync(file, '[api.rate_limiting]\nmax_requests_per_minute = "lots"\n');
    const refused = await fetch(`${url}/api/system/reload-config`, { method: 'POST', headers: { 'x-api-key': 'new-key' } });
    assert.equal(refused.status, 400);
    const problem = (await refused.json()) as { errors: Array<{ path: string }> };
    assert.ok(problem.errors.some((e) => e.path === 'api.rate_limiting.max_requests_per_minute'), JSON.stringify(problem));
    // the limit reloaded before (3 a minute) still holds for this key: 3 spent above
    assert.equal((await get('new-key')).status, 429);
    assert.equal((await get('new-key')).headers.get('content-type')?.includes('problem+json'), true);
  });
});
