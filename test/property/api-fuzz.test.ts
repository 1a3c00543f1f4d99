import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { buildApi } from '../../api/server.ts';
import { loadConfig } from '../../core/config/index.ts';
import { createMetrics } from '../../core/telemetry/metrics.ts';
import { coreOnTestDatabase, silentLogger } from '../support/core.ts';
import { skipUnless } from '../support/services.ts';

const skip = await skipUnless('postgres');
const RUNS = Number(process.env.FC_RUNS ?? 150);

/** A task body that is valid, then mangled field by field: wrong types, out-of-range numbers, junk keys. */
const junk = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.integer({ min: -1e12, max: 1e12 }),
  fc.double({ noNaN: false }),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 3 }),
  fc.constantFrom('0 2 * * *', '61 * * * *', '@every 0s', '@every 1ms', '* * * * * * * *', 'Mars/Olympus', 'Asia/Shanghai', '\u0000', '../../etc', 'a'.repeat(300)),
);
const FIELDS = ['name', 'type', 'shell', 'http', 'params', 'schedule', 'timeZone', 'suspend', 'concurrencyPolicy', 'startingDeadlineSeconds', 'catchUp', 'maxCatchUp', 'jitterSeconds', 'pool', 'priority', 'timeoutSeconds', 'retry', 'dependsOn', 'shards', 'history', 'labels', '__proto__', 'constructor', 'unknownField'];
const taskBody = fc.record(
  Object.fromEntries(FIELDS.map((f) => [f, junk])) as Record<string, fc.Arbitrary<unknown>>,
  { requiredKeys: [] },
).map((fields) => ({ name: 'fuzzed', type: 'noop', params: {}, ...fields }));
const anyBody = fc.oneof(taskBody, fc.jsonValue(), fc.string({ maxLength: 200 }).map((s) => ({ raw: s })));

const QUERY_KEYS = ['limit', 'cursor', 'status', 'task', 'pool', 'from', 'to', 'type', 'suspended', 'name', 'label', 'namespace', 'days', 'follow', 'after', 'hours', 'x'];
const queryString = fc
  .array(fc.tuple(fc.constantFrom(...QUERY_KEYS), fc.oneof(fc.string({ maxLength: 30 }), fc.integer().map(String), fc.constantFrom('-1', '0', '1e309', 'true', 'NaN', '%', '%zz', 'eyJ', '2024-13-45T99:00:00Z', 'queued,failed'))), { maxLength: 5 })
  .map((pairs) => pairs.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&'));
const GET_URLS = ['/api/tasks', '/api/task-runs', '/api/workers', '/api/pools', '/api/tasks/fuzzed/runs', '/api/tasks/fuzzed/stats', '/api/task-runs/1/logs', '/api/workers/w/stats'];

const header = fc.oneof(fc.string({ maxLength: 60 }), fc.constantFrom('Bearer', 'Bearer ', 'Bearer eyJhbGciOiJub25lIn0.e30.', 'Basic abc', 'Bearer a.b.c', `Bearer ${'x'.repeat(5000)}`));

interface Answer {
  statusCode: number;
  headers: Record<string, unknown>;
  body: string;
}

/** Never a 5xx; every refusal is a problem+json, and a validation problem names each field it refuses. */
function assertWellFormed(what: string, response: Answer): void {
  assert.ok(response.statusCode < 500, `${what}: ${response.statusCode} ${response.body.slice(0, 300)}`);
  if (response.statusCode < 400) return;
  assert.match(String(response.headers['content-type']), /application\/problem\+json/, what);
  const problem = JSON.parse(response.body) as { code?: unknown; status?: unknown; errors?: Array<{ path?: unknown; message?: unknown }> };
  assert.equal(problem.status, response.statusCode, what);
  assert.match(String(problem.code), /^HG_ERR_[A-Z0-9_]+$/, what);
  if (problem.code === 'HG_ERR_VALIDATION') {
    assert.ok(Array.isArray(problem.errors) && problem.errors.length > 0, `${what}: validation names its fields`);
    for (const error of problem.errors) {
      assert.equal(typeof error.path, 'string', what);
      assert.ok(typeof error.message === 'string' && error.message.length > 0, what);
    }
  }
}

describe('the API under random and malformed input', { skip }, () => {
  let env: Awaited<ReturnType<typeof coreOnTestDatabase>>;
  let app: FastifyInstance;
  let secured: FastifyInstance;
  const inject = async (target: FastifyInstance, options: InjectOptions): Promise<Answer> => {
    const r = await target.inject(options);
    return { statusCode: r.statusCode, headers: r.headers, body: r.body };
  };
  before(async () => {
    env = await coreOnTestDatabase();
    app = await buildApi({ ctx: env.ctx, logger: silentLogger, version: 'test', metrics: createMetrics() });
    const { config } = loadConfig({ env: { API_KEYS: JSON.stringify({ 'fuzz-key': ['Admin'] }), JWT_SECRET: 'fuzz-secret-fuzz-secret-fuzz-secret-0000' } });
    config.api.auth.enabled = true;
    secured = await buildApi({ ctx: env.ctx, logger: silentLogger, version: 'test', metrics: createMetrics(), api: config.api });
    await app.inject({ method: 'POST', url: '/api/tasks', payload: { name: 'fuzzed', type: 'noop', params: {} } });
  });
  after(async () => {
    await app?.close();
    await secured?.close();
    await env?.close();
  });

  it('task bodies on POST, PUT and PATCH', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('POST /api/tasks', 'PUT /api/tasks/fuzzed', 'PUT /api/tasks/fresh-one', 'PATCH /api/tasks/fuzzed', 'PUT /api/pools/fz'), anyBody, async (route, body) => {
        const [method, url] = route.split(' ') as ['POST', string];
        const response = await inject(app, { method, url, payload: body as object });
        assertWellFormed(`${route} ${JSON.stringify(body).slice(0, 200)}`, response);
        // never leave what a fuzz case created behind for the next one
        if (response.statusCode === 201 && url === '/api/tasks') await app.inject({ method: 'DELETE', url: `/api/tasks/${(JSON.parse(response.body) as { id: string }).id}` });
        if (response.statusCode === 201 && url === '/api/tasks/fresh-one') await app.inject({ method: 'DELETE', url });
      }),
      { numRuns: RUNS },
    );
  });

  it('raw bytes that are not JSON, with any content type', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 300 }), fc.constantFrom('application/json', 'application/merge-patch+json', 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1'), async (raw, type) => {
        const response = await inject(app, { method: 'POST', url: '/api/tasks', headers: { 'content-type': type }, payload: raw });
        assertWellFormed(`${type} ${JSON.stringify(raw)}`, response);
      }),
      { numRuns: RUNS },
    );
  });

  it('query strings on every list and stats route', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...GET_URLS), queryString, async (url, query) => {
        // follow=true would stream; the stream itself is tested elsewhere
        const safe = query.replace(/follow=true/g, 'follow=false');
        const response = await inject(app, { method: 'GET', url: `${url}?${safe}` });
        assertWellFormed(`${url}?${safe}`, response);
        if (response.statusCode === 400) {
          const names = new Set(safe.split('&').map((pair) => pair.split('=')[0]));
          const problem = JSON.parse(response.body) as { errors: Array<{ path: string }> };
          assert.ok(problem.errors.every((e) => names.has(e.path.split(/[.[]/)[0] as string)), `every problem names a parameter that was sent: ${url}?${safe}: ${response.body}`);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('path parameters of any shape', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 80 }), fc.constantFrom('/api/tasks/', '/api/task-runs/', '/api/workers/', '/api/pools/'), async (id, prefix) => {
        const response = await inject(app, { method: 'GET', url: `${prefix}${encodeURIComponent(id)}` });
        assertWellFormed(`${prefix}${JSON.stringify(id)}`, response);
      }),
      { numRuns: RUNS },
    );
  });

  it('credentials and headers of any shape', async () => {
    await fc.assert(
      fc.asyncProperty(header, header, fc.constantFrom('/api/tasks', '/api/auth/whoami', '/health', '/nope'), async (authorization, apiKey, url) => {
        const response = await inject(secured, { method: 'GET', url, headers: { authorization, 'x-api-key': apiKey, accept: apiKey } });
        assertWellFormed(`${url} ${JSON.stringify([authorization, apiKey]).slice(0, 200)}`, response);
        // 429: failed authentications are limited per address, and every fuzz case comes from the same one
        if (url !== '/health') assert.ok([401, 404, 429].includes(response.statusCode) || apiKey === 'fuzz-key', `${url}: ${response.statusCode}`);
      }),
      { numRuns: RUNS },
    );
  });
});
