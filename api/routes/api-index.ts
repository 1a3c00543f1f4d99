import { z } from 'zod';
import type { ApiContext } from '../context.ts';
import { defineRoute, type ApiRoute } from '../route.ts';

const Resource = z.object({ path: z.string(), methods: z.array(z.string()), summary: z.string() });

/**
 * `GET /api`: the front door of the REST API, listing each resource collection with the methods its
 * routes take, built from the route table itself so it cannot list what is not served. `/` is the console's.
 */
export function apiIndexRoutes(api: ApiContext, routes: readonly ApiRoute[]): ApiRoute[] {
  const collections = new Map<string, { methods: Set<string>; summary: string }>();
  for (const route of routes) {
    const match = /^\/api\/([a-z-]+)/.exec(route.url);
    if (!match || match[1] === 'docs') continue;
    const path = `/api/${match[1]}`;
    const entry = collections.get(path) ?? { methods: new Set<string>(), summary: route.url === path && route.method === 'GET' ? route.summary : '' };
    entry.methods.add(route.method);
    if (route.url === path && route.method === 'GET') entry.summary = route.summary;
    collections.set(path, entry);
  }
  const resources = [...collections].map(([path, { methods, summary }]) => ({ path, methods: [...methods].sort(), summary }));
  return [
    defineRoute({
      method: 'GET', url: '/api', access: 'public', tag: 'index', summary: 'The resources this API serves, and where its OpenAPI document is',
      responses: { 200: { description: 'the index', body: { zod: z.object({ name: z.string(), version: z.string(), docs: z.string(), docsUi: z.string(), resources: z.array(Resource) }) } } },
      handler: async () => ({ name: 'hourglass', version: api.version, docs: '/api/docs', docsUi: '/api/docs/ui', resources }),
    }),
  ];
}
