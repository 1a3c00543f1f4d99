import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Validator } from '@seriousme/openapi-schema-validator';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../../api/server.ts';
import { openApiPath } from '../../api/openapi.ts';
import { isConsoleUrl } from '../../api/routes/console.ts';
import { createMetrics } from '../../core/telemetry/metrics.ts';
import { coreOnTestDatabase, silentLogger } from '../support/core.ts';
import { skipUnless } from '../support/services.ts';

const skip = await skipUnless('postgres');

describe('OpenAPI document', { skip }, () => {
  let env: Awaited<ReturnType<typeof coreOnTestDatabase>>;
  let app: FastifyInstance;
  let document: { openapi: string; paths: Record<string, Record<string, { 'x-required-permission': string; responses: Record<string, unknown> }>> };
  before(async () => {
    env = await coreOnTestDatabase();
    app = await buildApi({ ctx: env.ctx, logger: silentLogger, version: 'test', metrics: createMetrics() });
    document = (await app.inject({ url: '/api/docs' })).json();
  });
  after(async () => {
    await app?.close();
    await env?.close();
  });

  it('is valid OpenAPI 3.1', async () => {
    assert.equal(document.openapi, '3.1.0');
    const result = await new Validator().validate(document as never);
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2)?.slice(0, 3000));
  });

  it('documents every route the server serves, with the permission the route table gives it', () => {
    assert.ok(app.routeTable.length >= 35, `${app.routeTable.length} routes`);
    for (const route of app.routeTable) {
      const operation = document.paths[openApiPath(route.url)]?.[route.method.toLowerCase()];
      assert.ok(operation, `${route.method} ${route.url} is documented`);
      assert.equal(operation['x-required-permission'], route.access, `${route.method} ${route.url}`);
      if (route.access !== 'public') assert.ok(operation.responses['401'], `${route.method} ${route.url} documents 401`);
    }
    // and nothing is documented that is not served
    const served = new Set(app.routeTable.map((r) => `${r.method.toLowerCase()} ${openApiPath(r.url)}`));
    for (const [path, operations] of Object.entries(document.paths)) {
      for (const method of Object.keys(operations)) assert.ok(served.has(`${method} ${path}`), `${method} ${path} is served`);
    }
    // every route fastify serves is in the table, except the document and its UI
    assert.ok(app.servedRoutes.length > app.routeTable.length, 'fastify reports what it serves');
    for (const { method, url } of app.servedRoutes) {
      if (method === 'HEAD' || method === 'OPTIONS' || url === '/api/docs' || url.startsWith('/api/docs/ui') || isConsoleUrl(url)) continue;
      assert.ok(served.has(`${method.toLowerCase()} ${openApiPath(url)}`), `${method} ${url} is served but not in the route table`);
    }
    for (const expected of ['get /api/tasks/{id}/stats', 'get /api/task-runs/{id}/logs', 'post /api/workers/{id}/drain', 'put /api/pools/{name}', 'post /api/auth/token', 'post /api/system/reload-config']) {
      assert.ok(served.has(expected), expected);
    }
  });

  it('describes task bodies from the zod schema, defaults and descriptions included', () => {
    const components = (document as unknown as { components: { schemas: Record<string, { properties: Record<string, { default?: unknown; description?: string }> }> } }).components;
    const input = components.schemas.TaskInput;
    assert.equal(input?.properties.timeoutSeconds?.default, 300);
    assert.match(String(input?.properties.schedule?.description), /cron/);
  });

  it('serves a browsable UI', async () => {
    const page = await app.inject({ url: '/api/docs/ui/' });
    assert.equal(page.statusCode, 200);
    assert.match(page.headers['content-type'] as string, /text\/html/);
    assert.match(page.body, /swagger/i);
  });
});
