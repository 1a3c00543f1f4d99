import { z } from 'zod';
import { ConflictError, getWorker, listWorkers, markDraining, workerStats } from '../../core/store/index.ts';
import type { ApiContext } from '../context.ts';
import { decodeCursor, isIdCursor, page } from '../cursor.ts';
import { defineRoute, type ApiRoute } from '../route.ts';
import { WorkerListQuery, WorkerStatsQuery } from '../schemas.ts';

const TAG = 'workers';
const WorkerParams = z.strictObject({ id: z.string().min(1).max(253).describe('worker id') });

export function workerRoutes(api: ApiContext): ApiRoute[] {
  const { core } = api;
  const alive = api.workerTimeoutSeconds;
  return [
    defineRoute({
      method: 'GET', url: '/api/workers', access: 'WorkerRead', tag: TAG, summary: 'List workers',
      description: 'A worker silent longer than dispatcher.worker_timeout_seconds is shown DOWN.',
      query: WorkerListQuery,
      responses: { 200: { description: 'a page of workers', body: { ref: 'Worker', list: true } } },
      async handler({ query }) {
        const after = decodeCursor(query.cursor, isIdCursor);
        const workers = await listWorkers(
          core.db,
          alive,
          { ...(query.status ? { status: query.status } : {}), ...(query.pool ? { pool: query.pool } : {}) },
          { limit: query.limit + 1, ...(after ? { afterId: after.id } : {}) },
        );
        return page(workers, query.limit, (w) => ({ id: w.id }));
      },
    }),
    defineRoute({
      method: 'GET', url: '/api/workers/:id', access: 'WorkerRead', tag: TAG, summary: 'Get a worker', params: WorkerParams,
      responses: { 200: { description: 'the worker', body: { ref: 'Worker' } } },
      handler: async ({ params }) => getWorker(core.db, alive, params.id),
    }),
    defineRoute({
      method: 'GET', url: '/api/workers/:id/stats', access: 'WorkerRead', tag: TAG, summary: 'What a worker finished recently',
      params: WorkerParams, query: WorkerStatsQuery,
      responses: {
        200: {
          description: 'statistics',
          body: {
            zod: z.object({
              workerId: z.string(), status: z.string(), activeRuns: z.number().int(), loadPercentage: z.number(), hours: z.number().int(),
              byStatus: z.record(z.string(), z.number().int()), durationMs: z.object({ p50: z.number().nullable(), p95: z.number().nullable() }),
            }),
          },
        },
      },
      async handler({ params, query }) {
        const worker = await getWorker(core.db, alive, params.id);
        const stats = await workerStats(core.db, worker.id, query.hours);
        return { workerId: worker.id, status: worker.status, activeRuns: worker.activeRuns, loadPercentage: worker.loadPercentage, ...stats };
      },
    }),
    defineRoute({
      method: 'POST', url: '/api/workers/:id/drain', access: 'WorkerWrite', tag: TAG, summary: 'Drain a worker',
      description: 'The worker stops taking runs, finishes the ones it holds, reports DRAINING and leaves its queue. The message travels over the queue, so it reaches workers that hold no database credentials.',
      params: WorkerParams,
      responses: { 202: { description: 'the worker, marked DRAINING; it confirms with its next heartbeat', body: { ref: 'Worker' } } },
      async handler({ params, reply }) {
        const worker = await getWorker(core.db, alive, params.id);
        const marked = await markDraining(core.db, alive, worker.id);
        if (!marked) throw new ConflictError(`worker "${worker.id}" is DOWN; only a live worker can be drained`, 'HG_ERR_WORKER_DOWN');
        await core.queue.publishDrain(worker.id);
        reply.code(202);
        return marked;
      },
    }),
  ];
}
