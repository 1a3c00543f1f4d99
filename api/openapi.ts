import { z } from 'zod';
import type { ApiRoute, ResponseBody } from './route.ts';
import { NAMED_SCHEMAS } from './schemas.ts';

type JsonSchema = Record<string, unknown>;

const PROBLEM_REF = { $ref: '#/components/schemas/Problem' };

/** JSON Schema 2020-12 (what OpenAPI 3.1 uses) from a zod schema; transforms document their input side. */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any', reused: 'inline' }) as JsonSchema;
  return rest;
}

function responseContent(body: ResponseBody): Record<string, unknown> {
  if ('stream' in body) return { [body.stream]: { schema: { type: 'string' } } };
  if ('zod' in body) return { 'application/json': { schema: jsonSchema(body.zod, 'output') } };
  const ref = { $ref: `#/components/schemas/${body.ref}` };
  const schema = body.list
    ? { type: 'object', required: ['items', 'nextCursor'], properties: { items: { type: 'array', items: ref }, nextCursor: { type: ['string', 'null'], description: 'pass back as ?cursor= for the next page; null on the last page' } } }
    : ref;
  return { 'application/json': { schema } };
}

/** `:id` -> `{id}` */
export function openApiPath(url: string): string {
  return url.replace(/:(\w+)/g, '{$1}');
}

function parameters(route: ApiRoute): unknown[] {
  const out: unknown[] = [];
  for (const [where, schema] of [['path', route.params], ['query', route.query]] as const) {
    if (!schema) continue;
    const json = jsonSchema(schema, 'input') as { properties?: Record<string, JsonSchema>; required?: string[] };
    for (const [name, property] of Object.entries(json.properties ?? {})) {
      const { description, ...rest } = property;
      out.push({
        name,
        in: where,
        required: where === 'path' || (json.required ?? []).includes(name),
        ...(typeof description === 'string' ? { description } : {}),
        schema: rest,
      });
    }
  }
  return out;
}

function errorResponses(route: ApiRoute): Record<string, unknown> {
  const problem = (description: string) => ({ description, content: { 'application/problem+json': { schema: PROBLEM_REF } } });
  const out: Record<string, unknown> = {};
  if (route.params || route.query || route.body || route.bodyDoc) out['400'] = problem('invalid request: `errors` names each bad field');
  if (route.access !== 'public') {
    out['401'] = problem('no credential, or an invalid or expired one');
    if (route.access !== 'authenticated') out['403'] = problem(`the credential lacks the ${route.access} permission`);
  }
  if (route.params) out['404'] = problem('not found');
  if (route.method !== 'GET') out['409'] = problem('conflicts with the current state (see `code`)');
  if (route.body || route.bodyDoc) out['413'] = problem('body over the size limit');
  out['429'] = problem('rate limited; see Retry-After');
  return out;
}

export interface OpenApiInfo {
  version: string;
}

/** OpenAPI 3.1 for every route of the table; `x-required-permission` names what each needs. */
export function openApiDocument(routes: ApiRoute[], info: OpenApiInfo): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = openApiPath(route.url);
    const requestBody = route.body ?? route.bodyDoc;
    const responses: Record<string, unknown> = {};
    for (const [status, doc] of Object.entries(route.responses)) {
      responses[status] = { description: doc.description, ...(doc.body ? { content: responseContent(doc.body) } : {}) };
    }
    paths[path] ??= {};
    paths[path][route.method.toLowerCase()] = {
      operationId: `${route.method.toLowerCase()}${path.replace(/[{}]/g, '').split(/[/-]/).map((p) => p.charAt(0).toUpperCase() + p.slice(1)).join('')}`,
      tags: [route.tag],
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      ...(route.access === 'public' ? { security: [] } : {}),
      'x-required-permission': route.access,
      parameters: parameters(route),
      ...(requestBody
        ? {
            requestBody: {
              required: route.method !== 'PATCH',
              content: {
                'application/json': { schema: jsonSchema(requestBody, 'input') },
                ...(route.method === 'PATCH' ? { 'application/merge-patch+json': { schema: jsonSchema(requestBody, 'input') } } : {}),
              },
            },
          }
        : {}),
      responses: { ...responses, ...errorResponses(route) },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Hourglass API',
      version: info.version,
      description: 'Distributed task scheduler. Errors are application/problem+json with a stable `code` (docs/errors.md).',
    },
    servers: [{ url: '/' }],
    tags: [...new Set(routes.map((r) => r.tag))].map((name) => ({ name })),
    paths,
    components: {
      schemas: Object.fromEntries(Object.entries(NAMED_SCHEMAS).map(([name, schema]) => [name, jsonSchema(schema, name === 'TaskInput' ? 'input' : 'output')])),
      securitySchemes: {
        apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
        bearer: { type: 'http', scheme: 'bearer', description: 'an API key, or an access token from POST /api/auth/token' },
      },
    },
    security: [{ apiKey: [] }, { bearer: [] }],
  };
}
