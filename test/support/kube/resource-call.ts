import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { badRequest, KubeError } from './errors.ts';
import { sendJson, warningHeaders } from './http-io.ts';
import type { StoredObject } from './object-store.ts';
import type { Resolved } from './registry.ts';
import type { ResourcePath } from './request-info.ts';
import { apiVersionOf } from './resource-type.ts';
import { parseFieldSelector, parseLabelSelector } from './selectors.ts';
import type { Matcher } from './selectors.ts';
import { renderTable, wantsTable } from './tables.ts';
import type { IncludeObject } from './tables.ts';
import type { KubeObject } from './types.ts';
import type { ApiState, WriteRequest } from './api-state.ts';
import type { OpenWatch } from './watch-stream.ts';

/** One request on a resource, and what every verb derives from it (scope, selectors, rendering). */

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';

export interface ResourceCall {
  state: ApiState;
  path: ResourcePath;
  resolved: Resolved;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  request: IncomingMessage;
  response: ServerResponse;
  registerWatch: (watch: OpenWatch) => () => void;
}

export function verbOf(method: string, path: ResourcePath, query: URLSearchParams): Verb | undefined {
  const watch = path.watchPrefix || query.get('watch') === 'true' || query.get('watch') === '1';
  switch (method) {
    case 'GET': return watch ? 'watch' : path.name ? 'get' : 'list';
    case 'POST': return path.name ? undefined : 'create';
    case 'PUT': return path.name ? 'update' : undefined;
    case 'PATCH': return path.name ? 'patch' : undefined;
    case 'DELETE': return path.name ? 'delete' : 'deletecollection';
    default: return undefined;
  }
}

export function writeRequest(call: ResourceCall): WriteRequest {
  const dryRun = call.query.getAll('dryRun');
  if (dryRun.some((value) => value !== 'All')) throw badRequest(`Invalid value: ${JSON.stringify(dryRun)}: supported values: "All"`);
  const agent = String(call.headers['user-agent'] ?? 'unknown').split('/')[0] ?? 'unknown';
  return {
    state: call.state,
    type: call.resolved.type,
    version: call.resolved.version,
    dryRun: dryRun.length > 0,
    fieldValidation: call.query.get('fieldValidation') ?? 'Warn',
    manager: call.query.get('fieldManager') ?? agent,
    warnings: [],
  };
}

export function apiVersion(call: ResourceCall): string {
  return apiVersionOf(call.resolved.type.group, call.resolved.version.name);
}

/** An object at the requested version: same data, that version's apiVersion (there is no conversion). */
export function renderer(call: ResourceCall): (stored: StoredObject) => string {
  const wanted = apiVersion(call);
  return (stored) => (stored.object.apiVersion === wanted ? stored.json : JSON.stringify({ ...stored.object, apiVersion: wanted }));
}

export function atVersion(call: ResourceCall, object: KubeObject): KubeObject {
  return { ...object, apiVersion: apiVersion(call) };
}

export function tableInclusion(call: ResourceCall): IncludeObject | undefined {
  if (!wantsTable(call.headers.accept)) return undefined;
  const include = call.query.get('includeObject');
  return include === 'None' || include === 'Object' ? include : 'PartialObjectMetadata';
}

export function matcher(call: ResourceCall): Matcher {
  const labels = parseLabelSelector(call.query.get('labelSelector'));
  const fields = parseFieldSelector(call.query.get('fieldSelector'), call.resolved.type.selectableFields);
  const name = call.path.name;
  return (object) => (name === undefined || object.metadata.name === name) && labels(object) && fields(object);
}

export function scope(call: ResourceCall): string {
  return call.resolved.type.namespaced ? call.path.namespace : '';
}

export function respondObject(call: ResourceCall, code: number, object: KubeObject, warnings: string[] = []): void {
  const include = tableInclusion(call);
  const body = include ? renderTable([object], { version: call.resolved.version, include }) : atVersion(call, object);
  sendJson(call.response, code, body, warningHeaders(warnings));
}

export function requireSubresource(call: ResourceCall): 'main' | 'status' | 'scale' {
  const sub = call.path.subresource;
  if (sub === undefined) return 'main';
  if (sub === 'status' && call.resolved.version.statusSubresource) return 'status';
  if (sub === 'scale' && call.resolved.version.scale) return 'scale';
  throw new KubeError(404, 'NotFound', `the server could not find the requested resource`);
}

