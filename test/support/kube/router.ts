import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ApiState } from './api-state.ts';
import { coreVersions, group, groupList, KUBERNETES_VERSION, resourceList } from './discovery.ts';
import { KubeError } from './errors.ts';
import { sendError, sendJson } from './http-io.ts';
import { parseResourcePath } from './request-info.ts';
import { verbOf } from './resource-call.ts';
import type { Verb } from './resource-call.ts';
import { handleResource } from './resource-handlers.ts';
import type { OpenWatch } from './watch-stream.ts';

/**
 * HTTP entry point: discovery and OpenAPI routes first, then resource paths. Every failure leaves as
 * a Status object. The empty OpenAPI v2 document and the 404 on v3 are what make kubectl apply work
 * without --validate=false (it finds no schema, so it validates nothing client-side).
 */

export interface RouterHooks {
  /** resource is the plural, with `/subresource` when there is one (scheduledtasks/status) */
  countRequest(verb: Verb, resource: string): void;
  registerWatch(watch: OpenWatch): () => void;
}

function notFound(): KubeError {
  return new KubeError(404, 'NotFound', 'the server could not find the requested resource');
}

function discovery(state: ApiState, request: IncomingMessage, response: ServerResponse, pathname: string): boolean {
  const parts = pathname.split('/').filter((part) => part !== '');
  const host = request.headers.host ?? '127.0.0.1';
  if (pathname === '/version' || pathname === '/version/') sendJson(response, 200, KUBERNETES_VERSION);
  else if (pathname === '/healthz' || pathname === '/livez' || pathname === '/readyz') {
    response.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  } else if (pathname === '/openapi/v2') {
    response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': 0 }).end();
  } else if (pathname.startsWith('/openapi/v3')) {
    sendError(response, notFound());
  } else if (pathname === '/api' || pathname === '/api/') sendJson(response, 200, coreVersions(host));
  else if (pathname === '/apis' || pathname === '/apis/') sendJson(response, 200, groupList(state.registry));
  else if (parts[0] === 'api' && parts.length === 2) {
    const document = resourceList(state.registry, '', parts[1] as string);
    if (document) sendJson(response, 200, document);
    else sendError(response, notFound());
  } else if (parts[0] === 'apis' && parts.length === 2) {
    const document = group(state.registry, parts[1] as string);
    if (document) sendJson(response, 200, document);
    else sendError(response, notFound());
  } else if (parts[0] === 'apis' && parts.length === 3) {
    const document = resourceList(state.registry, parts[1] as string, parts[2] as string);
    if (document) sendJson(response, 200, document);
    else sendError(response, notFound());
  } else {
    return false;
  }
  return true;
}

export async function route(state: ApiState, hooks: RouterHooks, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://in-memory');
  try {
    if (request.method === 'GET' && discovery(state, request, response, url.pathname)) return;
    const path = parseResourcePath(url.pathname);
    if (!path) throw notFound();
    const resolved = state.registry.resolve(path.group, path.version, path.resource);
    if (!resolved) throw notFound();
    if (resolved.type.namespaced === false && path.namespace && path.resource !== 'namespaces') throw notFound();
    const verb = verbOf(request.method ?? 'GET', path, url.searchParams);
    if (!verb) throw new KubeError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
    hooks.countRequest(verb === 'deletecollection' ? 'delete' : verb, path.subresource ? `${path.resource}/${path.subresource}` : path.resource);
    await handleResource({
      state,
      path,
      resolved,
      query: url.searchParams,
      headers: request.headers,
      request,
      response,
      registerWatch: hooks.registerWatch,
    }, verb);
  } catch (error) {
    if (!(error instanceof KubeError)) state.log(`internal error on ${request.method} ${request.url}: ${(error as Error)?.stack ?? String(error)}`);
    sendError(response, error);
  }
}
