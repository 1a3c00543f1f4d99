import { isIP } from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { parseBindAddress } from '../core/config/index.ts';
import { ValidationError } from '../core/model/index.ts';
import { ApiProblem } from './problem.ts';

/**
 * With authentication off the API trusts whoever can reach it, so it must be reachable only from this
 * machine, and not through a browser on this machine either: a web page can make the browser send
 * requests to 127.0.0.1 (a cross-site form or fetch), or re-point its own host name at 127.0.0.1
 * (DNS rebinding). The guard below refuses both; startup refuses a non-loopback bind address.
 */

/** 127.0.0.0/8, ::1, localhost and *.localhost (RFC 6761: always loopback). */
export function isLoopbackHost(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const lower = bare.toLowerCase();
  if (lower === 'localhost' || lower.endsWith('.localhost')) return true;
  if (isIP(lower) === 4) return lower.startsWith('127.');
  if (isIP(lower) === 6) return lower === '::1' || lower === '0:0:0:0:0:0:0:1' || lower.startsWith('::ffff:127.');
  return false;
}

/** The host part of a Host header ("name", "name:port", "[v6]:port"); undefined when malformed. */
export function hostOfHeader(header: string): string | undefined {
  const match = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]/@]+)(?::\d{1,5})?$/.exec(header);
  return match?.[1];
}

/**
 * Throws unless auth is on or the API listens on loopback only: an unauthenticated API on the network
 * hands command execution (shell tasks) to anyone who can reach the port.
 */
export function assertSafeExposure(api: { bind_address: string; auth: { enabled: boolean } }): void {
  // called only where an API is about to be served, so api.enabled (a --mode all switch) does not matter here
  if (api.auth.enabled) return;
  const { host } = parseBindAddress(api.bind_address);
  if (isLoopbackHost(host)) return;
  throw new ValidationError('refusing to serve an unauthenticated API on the network', [{
    path: 'api.bind_address',
    message: `${api.bind_address} is not a loopback address and api.auth.enabled is false: anyone who reaches it could run shell tasks. Bind to 127.0.0.1, or enable auth and set API_KEYS`,
  }]);
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const JSON_TYPES = new Set(['application/json', 'application/merge-patch+json']);

function hasBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

function refuse(code: 'HG_ERR_HOST_NOT_LOOPBACK' | 'HG_ERR_CROSS_SITE', message: string): never {
  throw new ApiProblem(403, code, message);
}

/** The checks for one request when authentication is off; throws an ApiProblem on refusal. */
export function checkLocalRequest(request: FastifyRequest): void {
  const host = hostOfHeader(request.headers.host ?? '');
  if (!host || !isLoopbackHost(host)) {
    refuse('HG_ERR_HOST_NOT_LOOPBACK', `with authentication off the API answers only to a loopback Host (localhost, 127.0.0.1, [::1]); got ${JSON.stringify((request.headers.host ?? '').slice(0, 100))}`);
  }
  if (SAFE_METHODS.has(request.method)) return;
  const site = request.headers['sec-fetch-site'];
  if (typeof site === 'string' && site !== 'same-origin' && site !== 'none') {
    refuse('HG_ERR_CROSS_SITE', `with authentication off the API refuses writes from other sites (Sec-Fetch-Site: ${site.slice(0, 40)})`);
  }
  const origin = request.headers.origin;
  if (typeof origin === 'string' && !originIsLoopback(origin)) {
    refuse('HG_ERR_CROSS_SITE', `with authentication off the API refuses writes from other origins (Origin: ${origin.slice(0, 100)})`);
  }
  const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if ((hasBody(request) || type !== '') && !JSON_TYPES.has(type)) {
    // a cross-site form can send only text/plain, urlencoded or multipart: JSON needs a CORS preflight
    throw new ApiProblem(415, 'HG_ERR_CONTENT_TYPE', `a request body must be application/json (got ${JSON.stringify(type.slice(0, 60) || 'no content type')})`);
  }
}

function originIsLoopback(origin: string): boolean {
  try {
    return isLoopbackHost(new URL(origin).hostname);
  } catch {
    return false; // "null" (sandboxed frames, file://) and garbage
  }
}

/** Installs the checks; they apply only while authentication is off (a live setting). */
export function installLocalGuard(app: FastifyInstance, authEnabled: () => boolean): void {
  app.addHook('onRequest', async (request) => {
    if (!authEnabled()) checkLocalRequest(request);
  });
}
