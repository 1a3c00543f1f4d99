import { z } from 'zod';
import type { ApiContext } from '../context.ts';
import { databaseProbe, queueProbe } from '../probes.ts';
import { defineRoute, type ApiRoute } from '../route.ts';

const READY_TIMEOUT_MS = 1000;

/** Routes that never need a credential: probes for the orchestrator and the Prometheus scrape. */
export function openRoutes(api: ApiContext): ApiRoute[] {
  const { core } = api;
  return [
    defineRoute({
      method: 'GET', url: '/health', access: 'public', tag: 'probes', summary: 'Liveness: the process answers (no dependency is checked)',
      responses: { 200: { description: 'alive', body: { zod: z.object({ status: z.literal('ok'), version: z.string(), uptimeSeconds: z.number() }) } } },
      handler: async () => ({ status: 'ok', version: api.version, uptimeSeconds: Math.round((Date.now() - api.startedAt) / 1000) }),
    }),
    defineRoute({
      method: 'GET', url: '/ready', access: 'public', tag: 'probes', summary: 'Readiness: the database and the queue answer',
      responses: {
        200: { description: 'ready', body: { zod: z.object({ status: z.enum(['ready', 'unready']), checks: z.record(z.string(), z.object({ ok: z.boolean(), latencyMs: z.number(), reason: z.string().optional() })), reasons: z.array(z.string()) }) } },
        503: { description: 'not ready; the same body, with the reasons' },
      },
      async handler({ reply }) {
        const [database, queue] = await Promise.all([databaseProbe(core, READY_TIMEOUT_MS), queueProbe(core, READY_TIMEOUT_MS)]);
        const reasons = [
          ...(database.ok ? [] : [`database: ${database.reason}`]),
          ...(queue.ok ? [] : [`queue (${core.queue.kind}): ${queue.reason}`]),
        ];
        reply.code(reasons.length === 0 ? 200 : 503);
        return { status: reasons.length === 0 ? 'ready' : 'unready', checks: { database, queue }, reasons };
      },
    }),
    defineRoute({
      method: 'GET', url: '/metrics', access: api.metricsRequireAuth ? 'SystemRead' : 'public', tag: 'probes',
      summary: 'Prometheus metrics (text exposition format); needs SystemRead when api.metrics_require_auth is set',
      responses: { 200: { description: 'metrics', body: { stream: 'text/plain' } } },
      async handler({ reply }) {
        return reply.type(api.metrics.contentType).send(await api.metrics.metrics());
      },
    }),
  ];
}
