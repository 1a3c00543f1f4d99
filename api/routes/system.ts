import { z } from 'zod';
import { redactConfig } from '../../core/config/index.ts';
import { countRuns, countTasks, liveWorkerLoad, poolActivity } from '../../core/store/index.ts';
import type { ApiContext } from '../context.ts';
import { ApiProblem } from '../problem.ts';
import { FIRE_PARTITIONS } from '../../core/dispatch/fire-partitions.ts';
import { databaseProbe, leaderHeld, partitionsHeld, probe, queueProbe } from '../probes.ts';
import { defineRoute, type ApiRoute } from '../route.ts';

const TAG = 'system';
const PROBE_TIMEOUT_MS = 2000;
const Component = z.object({ ok: z.boolean(), latencyMs: z.number(), reason: z.string().optional() });

export function systemRoutes(api: ApiContext): ApiRoute[] {
  const { core } = api;
  const uptimeSeconds = () => Math.round((Date.now() - api.startedAt) / 1000);
  return [
    defineRoute({
      method: 'GET', url: '/api/system/info', access: 'SystemRead', tag: TAG, summary: 'Version, mode, environment, uptime and the effective config (secrets redacted)',
      responses: { 200: { description: 'information', body: { zod: z.object({ version: z.string(), mode: z.string(), environment: z.string(), uptimeSeconds: z.number(), queue: z.string(), database: z.string(), node: z.string(), config: z.unknown() }) } } },
      async handler() {
        const config = api.config();
        return {
          version: api.version,
          mode: api.mode,
          environment: config?.environment ?? 'unknown',
          uptimeSeconds: uptimeSeconds(),
          queue: core.queue.kind,
          database: core.db.kind === 'pglite' ? 'embedded' : 'postgres',
          node: process.version,
          config: config ? redactConfig(config) : null,
        };
      },
    }),
    defineRoute({
      method: 'GET', url: '/api/system/health/detailed', access: 'SystemRead', tag: TAG, summary: 'Each component with its latency, and a reason when unhealthy',
      responses: {
        200: { description: 'every component healthy', body: { zod: z.object({ status: z.enum(['ok', 'degraded']), components: z.record(z.string(), Component.extend({ detail: z.unknown().optional() })) }) } },
        503: { description: 'a component is unhealthy; the same body' },
      },
      async handler({ reply }) {
        const [database, queue] = await Promise.all([databaseProbe(core, PROBE_TIMEOUT_MS), queueProbe(core, PROBE_TIMEOUT_MS)]);
        let leader = false;
        let held = 0;
        let workers: Array<{ id: string; pool: string; load: number }> = [];
        let backlog: Record<string, number> = {};
        const dispatcher = await probe(async () => {
          [leader, held] = await Promise.all([leaderHeld(core), partitionsHeld(core)]);
        }, PROBE_TIMEOUT_MS);
        const dispatcherDetail = { leaderElected: leader, firePartitionsHeld: held, firePartitions: FIRE_PARTITIONS, thisProcess: api.isLeader?.() ?? false };
        // a rebalance leaves a few partitions unheld for a second or two; a dead dispatcher's, for its lease
        const dispatcherProblem = !leader
          ? 'no dispatcher holds the leadership: retries wait and dead workers are not reaped'
          : held < FIRE_PARTITIONS
            ? `${FIRE_PARTITIONS - held} of ${FIRE_PARTITIONS} fire partitions have no live dispatcher: their tasks do not fire`
            : undefined;
        const workerProbe = await probe(async () => (workers = await liveWorkerLoad(core.db, api.workerTimeoutSeconds)), PROBE_TIMEOUT_MS);
        const backlogProbe = await probe(async () => {
          backlog = Object.fromEntries([...(await poolActivity(core.db, api.workerTimeoutSeconds)).values()].map((p) => [p.pool, p.backlog]));
        }, PROBE_TIMEOUT_MS);
        const components = {
          database,
          queue: { ...queue, detail: { kind: core.queue.kind } },
          dispatcher: dispatcher.ok && dispatcherProblem
            ? { ...dispatcher, ok: false, reason: dispatcherProblem, detail: dispatcherDetail }
            : { ...dispatcher, detail: dispatcherDetail },
          workers: workerProbe.ok && workers.length === 0
            ? { ...workerProbe, ok: false, reason: 'no live worker: queued runs wait', detail: { alive: 0 } }
            : { ...workerProbe, detail: { alive: workers.length } },
          backlog: { ...backlogProbe, detail: backlog },
        };
        const ok = Object.values(components).every((c) => c.ok);
        reply.code(ok ? 200 : 503);
        return { status: ok ? 'ok' : 'degraded', components };
      },
    }),
    defineRoute({
      method: 'GET', url: '/api/system/stats', access: 'SystemRead', tag: TAG, summary: 'Counts of tasks, runs and workers',
      responses: { 200: { description: 'statistics', body: { zod: z.object({ tasks: z.unknown(), runs: z.unknown(), workers: z.unknown(), pools: z.unknown(), uptimeSeconds: z.number() }) } } },
      async handler() {
        const [tasks, runs, workers, pools] = await Promise.all([
          countTasks(core.db),
          countRuns(core.db),
          liveWorkerLoad(core.db, api.workerTimeoutSeconds),
          poolActivity(core.db, api.workerTimeoutSeconds),
        ]);
        const load = workers.length === 0 ? 0 : workers.reduce((a, w) => a + w.load, 0) / workers.length;
        return {
          tasks,
          runs,
          workers: { alive: workers.length, averageLoadPercentage: Math.round(load * 10) / 10 },
          pools: Object.fromEntries([...pools.values()].map((p) => [p.pool, { backlog: p.backlog, workersAlive: p.workersAlive, activeRuns: p.activeRuns }])),
          uptimeSeconds: uptimeSeconds(),
        };
      },
    }),
    defineRoute({
      method: 'POST', url: '/api/system/reload-config', access: 'SystemWrite', tag: TAG, summary: 'Re-read the config files and environment; apply what can change live',
      description: 'Live: observability.log_level, API keys, JWT secret and lifetimes, rate limits, CORS. Every other changed key is listed in needsRestart and keeps its old value until a restart.',
      responses: { 200: { description: 'what changed', body: { zod: z.object({ changed: z.array(z.string()), needsRestart: z.array(z.string()) }) } } },
      async handler() {
        if (!api.reload) throw new ApiProblem(409, 'HG_ERR_RELOAD_UNAVAILABLE', 'this API was started without a config to reload');
        return api.reload();
      },
    }),
  ];
}
