import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/**
 * The web console (console/, built by `npm run build` into dist/console) served at `/`. Its pages are
 * public like the OpenAPI document: they hold no data, and every API call they make carries the user's
 * credential. Only the console's own URLs are served: an unknown path still needs a credential
 * (the auth hook's rule), so a 404 keeps telling an anonymous caller nothing.
 */

/** Client-side views: a shared link to any of them loads the console, which routes it. */
export const CONSOLE_VIEWS = ['/', '/tasks/:id', '/runs/:id', '/workers', '/system', '/timeline', '/login'] as const;
export const CONSOLE_ASSETS = '/assets/:file';

/** Is this a URL the console registers (the OpenAPI test leaves them out: they are pages, not API). */
export function isConsoleUrl(url: string): boolean {
  return url === CONSOLE_ASSETS || url === '/favicon.svg' || (CONSOLE_VIEWS as readonly string[]).includes(url);
}

// A page that runs only its own scripts and styles, and talks only to its own origin.
const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
};

interface Asset {
  type: string;
  body: Buffer;
  gzip: Buffer;
  etag: string;
}

/** Where the build put the console: dist/console, seen from the sources or from the compiled dist/. */
export function consoleDirectory(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const fromSource = import.meta.url.endsWith('.ts');
  return fromSource ? path.resolve(here, '..', '..', 'dist', 'console') : path.resolve(here, '..', '..', 'console');
}

function load(file: string): Asset {
  const body = readFileSync(file);
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
  return { type: TYPES[path.extname(file)] ?? 'application/octet-stream', body, gzip: gzipSync(body), etag };
}

function send(request: FastifyRequest, reply: FastifyReply, asset: Asset, cache: string): FastifyReply {
  reply.header('content-security-policy', CONSOLE_CSP).header('cache-control', cache).header('etag', asset.etag).header('vary', 'accept-encoding').type(asset.type);
  if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send();
  const gzip = /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''));
  if (gzip) reply.header('content-encoding', 'gzip');
  return reply.send(gzip ? asset.gzip : asset.body);
}

/**
 * Registers the console's pages and assets, read once at start (a few hundred kB). Assets have hashed
 * names and are cached for a year; the page itself is revalidated, so a new build is seen at once.
 */
export function installConsole(app: FastifyInstance, directory = consoleDirectory()): void {
  const indexFile = path.join(directory, 'index.html');
  const config = { access: 'public' as const };
  if (!existsSync(indexFile)) {
    app.log.warn({ directory }, 'the web console is not built (npm run build); / answers 404');
    return;
  }
  const index = load(indexFile);
  const assetsDirectory = path.join(directory, 'assets');
  const assets = new Map<string, Asset>();
  if (existsSync(assetsDirectory)) for (const name of readdirSync(assetsDirectory)) assets.set(name, load(path.join(assetsDirectory, name)));
  const icon = existsSync(path.join(directory, 'favicon.svg')) ? load(path.join(directory, 'favicon.svg')) : undefined;

  for (const url of CONSOLE_VIEWS) {
    app.get(url, { config }, async (request, reply) => send(request, reply, index, 'no-cache'));
  }
  if (icon) app.get('/favicon.svg', { config }, async (request, reply) => send(request, reply, icon, 'public, max-age=86400'));
  app.get(CONSOLE_ASSETS, { config }, async (request, reply) => {
    const asset = assets.get((request.params as { file: string }).file);
    if (!asset) {
      return reply.code(404).type('application/problem+json').send({ type: 'about:blank', title: 'Not found', status: 404, detail: 'no such console asset', code: 'HG_ERR_ROUTE_NOT_FOUND' });
    }
    return send(request, reply, asset, 'public, max-age=31536000, immutable');
  });
}
