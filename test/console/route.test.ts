import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../../api/server.ts';
import { loadConfig } from '../../core/config/index.ts';
import { createMetrics } from '../../core/telemetry/metrics.ts';
import { coreOnTestDatabase, silentLogger } from '../support/core.ts';
import { REPO_ROOT } from '../support/processes.ts';
import { skipUnless } from '../support/services.ts';
import { assertConsoleBuilt } from './browser.ts';

const skip = await skipUnless('postgres');
const ASSETS = path.join(REPO_ROOT, 'dist', 'console', 'assets');
const MAX_JS_GZIP_BYTES = 300 * 1024;

describe('the console build', () => {
  it('ships less than 300 kB of JavaScript, gzipped', () => {
    assertConsoleBuilt();
    const scripts = readdirSync(ASSETS).filter((name) => name.endsWith('.js'));
    assert.ok(scripts.length > 0, 'the build has scripts');
    const total = scripts.reduce((sum, name) => sum + gzipSync(readFileSync(path.join(ASSETS, name))).length, 0);
    assert.ok(total < MAX_JS_GZIP_BYTES, `${total} bytes gzipped`);
  });

  it('has no inline script or style the Content-Security-Policy would block', () => {
    const html = readFileSync(path.join(REPO_ROOT, 'dist', 'console', 'index.html'), 'utf8');
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'every script has a src');
    assert.doesNotMatch(html, /<style|style=/, 'no inline style');
  });
});

describe('the console route (GET / and its assets)', { skip }, () => {
  let env: Awaited<ReturnType<typeof coreOnTestDatabase>>;
  let app: FastifyInstance;
  before(async () => {
    assertConsoleBuilt();
    env = await coreOnTestDatabase();
    const { config } = loadConfig({ env: { API_KEYS: JSON.stringify({ 'route-test-key-0123456789': ['Admin'] }) } });
    // as in production: the console must open nothing that auth closes
    config.api.auth.enabled = true;
    config.api.rate_limiting.enabled = false;
    app = await buildApi({ ctx: env.ctx, logger: silentLogger, version: 'test', metrics: createMetrics(), api: config.api });
  });
  after(async () => {
    await app?.close();
    await env?.close();
  });

  it('serves the page without a credential, revalidated, under a CSP that allows only its own files', async () => {
    const page = await app.inject({ url: '/' });
    assert.equal(page.statusCode, 200);
    assert.match(String(page.headers['content-type']), /text\/html/);
    assert.equal(page.headers['cache-control'], 'no-cache');
    const csp = String(page.headers['content-security-policy']);
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /connect-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(page.headers['x-content-type-options'], 'nosniff', "the API's security headers stay");
    assert.match(page.body, /<div id="app">/);
  });

  it('answers a deep link to any view with the page (the console routes it)', async () => {
    for (const url of ['/tasks/nightly', '/runs/123', '/workers', '/system', '/timeline?window=6h', '/login?next=%2F']) {
      const page = await app.inject({ url });
      assert.equal(page.statusCode, 200, url);
      assert.match(page.body, /<div id="app">/, url);
    }
  });

  it('serves hashed assets for a year, gzipped on request, with an ETag', async () => {
    const script = readdirSync(ASSETS).find((name) => name.endsWith('.js')) as string;
    const plain = await app.inject({ url: `/assets/${script}` });
    assert.equal(plain.statusCode, 200);
    assert.match(String(plain.headers['content-type']), /javascript/);
    assert.equal(plain.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(plain.body, readFileSync(path.join(ASSETS, script), 'utf8'));
    const zipped = await app.inject({ url: `/assets/${script}`, headers: { 'accept-encoding': 'gzip, br' } });
    assert.equal(zipped.headers['content-encoding'], 'gzip');
    assert.ok(zipped.rawPayload.length < plain.rawPayload.length);
    const again = await app.inject({ url: `/assets/${script}`, headers: { 'if-none-match': String(plain.headers.etag) } });
    assert.equal(again.statusCode, 304);
    assert.equal((await app.inject({ url: '/assets/missing.js' })).statusCode, 404);
  });

  it('opens nothing else: unknown paths and the API still need a credential', async () => {
    assert.equal((await app.inject({ url: '/etc/passwd' })).statusCode, 401);
    assert.equal((await app.inject({ url: '/tasks' })).statusCode, 401);
    assert.equal((await app.inject({ url: '/api/tasks' })).statusCode, 401);
    assert.equal((await app.inject({ method: 'POST', url: '/' })).statusCode, 401, 'the page is GET only');
  });
});
