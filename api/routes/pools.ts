import { z } from 'zod';
import { ConflictError, deletePool, findPool, getPool, listPools, NotFoundError, poolActivity, type PoolActivity, poolsSeen, type StoredPool, upsertPool } from '../../core/store/index.ts';
import type { ApiContext } from '../context.ts';
import { defineRoute, type ApiRoute } from '../route.ts';
import { NamespaceQuery, PoolBody } from '../schemas.ts';
import { parseRequest } from '../validation.ts';

const TAG = 'pools';
const PoolParams = z.strictObject({ name: z.string().min(1).max(63).describe('pool name') });

function poolView(name: string, stored: StoredPool | undefined, activity: PoolActivity | undefined): Record<string, unknown> {
  return {
    name,
    ...(stored?.namespace ? { namespace: stored.namespace } : {}),
    declared: stored !== undefined,
    source: stored?.source ?? null,
    labels: stored?.labels ?? {},
    spec: stored?.spec ?? null,
    backlog: activity?.backlog ?? 0,
    workersAlive: activity?.workersAlive ?? 0,
    activeRuns: activity?.activeRuns ?? 0,
    createdAt: stored?.createdAt ?? null,
    updatedAt: stored?.updatedAt ?? null,
  };
}

function assertWritable(pool: StoredPool | undefined): void {
  if (pool?.source === 'kubernetes') {
    throw new ConflictError(`pool "${pool.name}" is managed by the WorkerPool ${pool.namespace}/${pool.name} in Kubernetes; change it with kubectl`, 'HG_ERR_POOL_READ_ONLY');
  }
}

export function poolRoutes(api: ApiContext): ApiRoute[] {
  const { core } = api;
  const alive = api.workerTimeoutSeconds;
  return [
    defineRoute({
      method: 'GET', url: '/api/pools', access: 'WorkerRead', tag: TAG, summary: 'List pools with backlog, live workers and active runs',
      description: 'Declared pools and every pool named by a run or a worker. Backlog counts pending and queued runs.',
      query: z.strictObject({ namespace: z.string().max(253).optional() }),
      responses: { 200: { description: 'every pool (pools are few: no paging)', body: { ref: 'Pool', list: true } } },
      async handler({ query }) {
        const [declared, activity, seen] = await Promise.all([listPools(core.db, query.namespace), poolActivity(core.db, alive), poolsSeen(core.db)]);
        const byName = new Map(declared.filter((p) => p.namespace === '').map((p) => [p.name, p]));
        const names = new Set([...byName.keys(), ...activity.keys(), ...seen]);
        const items = [
          ...[...names].sort().map((name) => poolView(name, byName.get(name), activity.get(name))),
          // pools of other namespaces (mirrored WorkerPools): routing is by name, so activity is shared
          ...declared.filter((p) => p.namespace !== '').map((p) => poolView(p.name, p, activity.get(p.name))),
        ];
        return { items, nextCursor: null };
      },
    }),
    defineRoute({
      method: 'GET', url: '/api/pools/:name', access: 'WorkerRead', tag: TAG, summary: 'Get a pool', params: PoolParams, query: NamespaceQuery,
      responses: { 200: { description: 'the pool', body: { ref: 'Pool' } } },
      async handler({ params, query }) {
        const [stored, activity, seen] = await Promise.all([findPool(core.db, params.name, query.namespace), poolActivity(core.db, alive), poolsSeen(core.db)]);
        if (!stored && !activity.has(params.name) && !seen.includes(params.name)) throw new NotFoundError(`pool "${params.name}" not found`, 'HG_ERR_POOL_NOT_FOUND');
        return poolView(params.name, stored, activity.get(params.name));
      },
    }),
    defineRoute({
      method: 'PUT', url: '/api/pools/:name', access: 'WorkerWrite', tag: TAG, summary: 'Declare (create or replace) a pool',
      params: PoolParams, query: NamespaceQuery, bodyDoc: PoolBody,
      responses: { 200: { description: 'replaced', body: { ref: 'Pool' } }, 201: { description: 'created', body: { ref: 'Pool' } } },
      async handler({ params, query, body, reply }) {
        const input = parseRequest(PoolBody, body ?? {}, 'body');
        assertWritable(await findPool(core.db, params.name, query.namespace));
        const { labels, ...spec } = input;
        const { pool, created } = await upsertPool(core.db, { namespace: query.namespace, name: params.name, source: 'api', labels, spec });
        if (created) reply.code(201);
        return poolView(pool.name, pool, (await poolActivity(core.db, alive)).get(pool.name));
      },
    }),
    defineRoute({
      method: 'DELETE', url: '/api/pools/:name', access: 'WorkerWrite', tag: TAG, summary: "Remove a pool's declaration (its runs and workers are untouched)",
      params: PoolParams, query: NamespaceQuery,
      responses: { 204: { description: 'removed' } },
      async handler({ params, query, reply }) {
        assertWritable(await getPool(core.db, params.name, query.namespace));
        await deletePool(core.db, params.name, query.namespace);
        return reply.code(204).send();
      },
    }),
  ];
}
