import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { parse as parseYaml } from 'yaml';
import { badRequest, KubeError } from './errors.ts';

/** Bodies in and out: JSON everywhere, YAML for server-side apply, Status objects for failures. */

const MAX_BODY_BYTES = 3 * 1024 * 1024;

export async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new KubeError(413, 'RequestEntityTooLarge', 'Request entity too large: limit is 3145728');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

export function parseBody(body: Buffer, contentType: string): unknown {
  const text = body.toString('utf8');
  if (text.trim() === '') throw badRequest('the request body is empty');
  try {
    return contentType === 'application/apply-patch+yaml' || contentType === 'application/yaml' ? parseYaml(text) : JSON.parse(text);
  } catch (error) {
    throw badRequest(`the request body could not be decoded: ${(error as Error).message}`);
  }
}

export function sendJson(response: ServerResponse, code: number, body: unknown, headers: OutgoingHttpHeaders = {}): void {
  sendRaw(response, code, typeof body === 'string' ? body : JSON.stringify(body), headers);
}

export function sendRaw(response: ServerResponse, code: number, json: string, headers: OutgoingHttpHeaders = {}): void {
  if (response.headersSent) {
    response.end();
    return;
  }
  response.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json), ...headers });
  response.end(json);
}

export function sendError(response: ServerResponse, error: unknown): void {
  const failure = error instanceof KubeError
    ? error
    : new KubeError(500, 'InternalError', `Internal error occurred: ${(error as Error)?.message ?? String(error)}`);
  sendJson(response, failure.code, failure.toStatus());
}

/** `Warning: 299 - "text"` headers, as kubectl prints them. */
export function warningHeaders(warnings: string[]): OutgoingHttpHeaders {
  if (warnings.length === 0) return {};
  const values: string[] = warnings.map((warning) => `299 - ${JSON.stringify(warning)}`);
  return { ['Warning' as string]: values };
}
