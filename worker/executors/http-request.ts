import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import type { Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { EgressPolicy } from '../isolation/egress.ts';

const MAX_REDIRECTS = 20;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export interface RequestOptions {
  method: string;
  headers: Record<string, string>;
  body?: string;
  signal: AbortSignal;
  /** checked before every hop; unset: any destination */
  egress?: EgressPolicy;
}

export interface Response {
  status: number;
  /** the body, decompressed; destroy it to stop reading */
  body: Readable;
}

/** A refusal of the egress policy: the request never left the worker. */
export class EgressRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EgressRefused';
  }
}

/**
 * An HTTP request as fetch() makes it (redirects followed, a body decompressed, Authorization dropped on a
 * redirect to another origin, 303 turns into GET) on node:http, because fetch cannot check where a socket
 * connects: here every hop is checked by the egress policy, IP literals before connecting and names at
 * resolution, and the socket connects to the very address that was checked (issue 13 item 8).
 */
export async function sendRequest(url: string, options: RequestOptions): Promise<Response> {
  let current = new URL(url);
  let { method, body } = options;
  const headers: Record<string, string> = { ...options.headers };
  for (let hop = 0; ; hop++) {
    refuseLiteral(current, options.egress);
    const response = await once(current, method, headers, body, options);
    const location = response.headers.location;
    if (!REDIRECTS.has(response.statusCode ?? 0) || location === undefined) return { status: response.statusCode ?? 0, body: decoded(response) };
    response.resume();
    if (hop >= MAX_REDIRECTS) throw new Error(`more than ${MAX_REDIRECTS} redirects`);
    const next = new URL(location, current);
    if (next.protocol !== 'http:' && next.protocol !== 'https:') throw new Error(`redirect to unsupported protocol ${next.protocol}`);
    if (response.statusCode === 303 || ((response.statusCode === 301 || response.statusCode === 302) && method === 'POST')) {
      method = method === 'HEAD' ? 'HEAD' : 'GET';
      body = undefined;
      for (const name of Object.keys(headers)) if (/^content-/i.test(name)) delete headers[name];
    }
    if (next.origin !== current.origin) {
      for (const name of Object.keys(headers)) if (/^(authorization|cookie|proxy-authorization)$/i.test(name)) delete headers[name];
    }
    current = next;
  }
}

function refuseLiteral(url: URL, egress: EgressPolicy | undefined): void {
  if (!egress) return;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) === 0) return; // a name: checked when it is resolved (lookup)
  const refused = egress.refusal(host);
  if (refused) throw new EgressRefused(refused);
}

function once(url: URL, method: string, headers: Record<string, string>, body: string | undefined, options: RequestOptions): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const outgoing: OutgoingHttpHeaders = { 'accept-encoding': 'gzip, deflate, br', ...headers };
    if (body !== undefined) outgoing['content-length'] = Buffer.byteLength(body);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const request = send(url, { method, headers: outgoing, signal: options.signal, ...(options.egress ? { lookup: options.egress.lookup() } : {}) });
    request.once('response', resolve);
    request.once('error', (error: NodeJS.ErrnoException) => {
      reject(error.code === 'HG_EGRESS_DENIED' ? new EgressRefused(error.message) : error);
    });
    request.end(body);
  });
}

function decoded(response: IncomingMessage): Readable {
  const encoding = String(response.headers['content-encoding'] ?? '').trim().toLowerCase();
  const decoder = encoding === 'gzip' || encoding === 'x-gzip' ? createGunzip() : encoding === 'deflate' ? createInflate() : encoding === 'br' ? createBrotliDecompress() : undefined;
  if (!decoder) return response;
  response.on('error', (error) => decoder.destroy(error));
  decoder.on('close', () => response.destroy());
  return response.pipe(decoder);
}
