import { isDeepStrictEqual } from 'node:util';
import type { WorkerPoolSpec } from '../core/model/worker-pool.ts';
import { deletePool, findPool, type Queryable, upsertPool } from '../core/store/index.ts';

/**
 * The WorkerPool mirrored into hg_pools (source kubernetes), so the REST API and scheduler-cli list it.
 * Written only when it differs: a pool is reconciled every few seconds for its backlog.
 */
export async function mirrorPool(db: Queryable, pool: { namespace: string; name: string; labels: Record<string, string>; spec: WorkerPoolSpec }): Promise<void> {
  const stored = await findPool(db, pool.name, pool.namespace);
  if (stored && stored.source === 'kubernetes' && isDeepStrictEqual(stored.spec, pool.spec) && isDeepStrictEqual(stored.labels, pool.labels)) return;
  await upsertPool(db, { ...pool, source: 'kubernetes' });
}

export async function unmirrorPool(db: Queryable, namespace: string, name: string): Promise<void> {
  const stored = await findPool(db, name, namespace);
  if (stored?.source === 'kubernetes') await deletePool(db, name, namespace);
}
