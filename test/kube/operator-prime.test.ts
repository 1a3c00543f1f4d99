import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CoreContext } from '../../core/dispatch/context.ts';
import { triggerKubernetesTask, upsertKubernetesTask } from '../../core/dispatch/kubernetes-task-writes.ts';
import { TaskSpec } from '../../core/model/task.ts';
import type { Db } from '../../core/store/db.ts';
import { findTasksByKey } from '../../core/store/kubernetes-tasks.ts';
import type { EventRecorder } from '../../operator/event-recorder.ts';
import type { KubeClients, KubeObject } from '../../operator/kube.ts';
import { createTaskReconciler } from '../../operator/task-reconciler.ts';
import { coreOnTestDatabase, silentLogger } from '../support/core.ts';
import { skipUnless } from '../support/services.ts';

const SPEC = { type: 'shell', shell: { command: ['true'] }, schedule: '0 3 * * *' };
const RUN_STATES_SQL = /FROM hg_tasks t WHERE t\.id = ANY/;

interface Held {
  /** resolves once a query matching the pattern was sent to Postgres (its result is held) */
  issued: Promise<void>;
  release(): void;
}

/**
 * The test database, whose queries matching `pattern` run at once but whose results are held until
 * release(): what a reconcile sees while a relist's chunk is still being prepared.
 */
function holdingResults(db: Db, pattern: RegExp): { db: Db; hold(): Held; queries: { count: number } } {
  const queries = { count: 0 };
  let gate: { promise: Promise<void>; release(): void; issued: Promise<void>; markIssued(): void } | undefined;
  const query = (async (sql: string, params?: unknown[]) => {
    const current = gate;
    queries.count += 1;
    const result = await db.query(sql, params);
    if (current && pattern.test(sql)) {
      current.markIssued();
      await current.promise;
    }
    return result;
  }) as Db['query'];
  return {
    queries,
    db: new Proxy(db, { get: (target, key) => (key === 'query' ? query : Reflect.get(target, key)) }),
    hold() {
      let release = () => {};
      let markIssued = () => {};
      const promise = new Promise<void>((resolve) => (release = resolve));
      const issued = new Promise<void>((resolve) => (markIssued = resolve));
      gate = { promise, release, issued, markIssued };
      return { issued, release: () => { gate = undefined; release(); } };
    },
  };
}

describe('a relist prepared in chunks while its objects are reconciled (task reconciler, Postgres, fake API)', { skip: await skipUnless('postgres') }, () => {
  let core: Awaited<ReturnType<typeof coreOnTestDatabase>>;
  let ctx: CoreContext;
  let hold: () => Held;
  let queries: { count: number };
  let resourceVersion = 1000;
  const patches: Array<{ name: string; status: Record<string, unknown> }> = [];
  const cache = new Map<string, KubeObject>();

  before(async () => {
    core = await coreOnTestDatabase();
    const holding = holdingResults(core.db, RUN_STATES_SQL);
    ctx = { ...core.ctx, db: holding.db };
    hold = holding.hold;
    queries = holding.queries;
  });
  after(async () => core?.close());

  const object = (namespace: string, name: string): KubeObject => {
    const made: KubeObject = { apiVersion: 'scheduling.hourglass.dev/v1alpha1', kind: 'ScheduledTask', metadata: { name, namespace, uid: `uid-${namespace}-${name}`, generation: 1, resourceVersion: String(++resourceVersion) }, spec: SPEC };
    cache.set(`${namespace}/${name}`, made);
    return made;
  };
  const reconciler = () => createTaskReconciler({
    ctx,
    kube: {
      patchStatus: async ({ namespace, name }: { namespace: string; name: string }, status: Record<string, unknown>) => {
        patches.push({ name, status });
        return { metadata: { name, namespace, resourceVersion: String(++resourceVersion) }, status };
      },
    } as unknown as KubeClients,
    recorder: { record: async () => undefined, recordOrThrow: async () => undefined } as unknown as EventRecorder,
    logger: silentLogger,
    maxRequeueMs: 60_000,
    get: (key) => cache.get(key),
    graph: () => new Map(),
  });
  const ready = (status: Record<string, unknown> | undefined) => (status?.['conditions'] as Array<{ type: string; status: string; observedGeneration?: number }> | undefined)?.find((c) => c.type === 'Ready');

  it('returns before the relist is registered; a reconcile waits for its own chunk, then writes one Ready status', async () => {
    const objects = Array.from({ length: 900 }, (_, i) => object('prime-a', `t-${i}`));
    const tasks = reconciler();
    const held = hold();
    await tasks.prime(objects);
    await held.issued;
    const last = objects.at(-1) as KubeObject;
    let lastDone = false;
    const lastReconcile = tasks.reconcile(`prime-a/${last.metadata.name}`, last).then(() => (lastDone = true));
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(lastDone, false, 'the last object waits while the first chunk is held');
    held.release();
    await lastReconcile;
    for (const o of objects.slice(0, -1)) await tasks.reconcile(`prime-a/${o.metadata.name}`, o);
    const registered = await findTasksByKey(core.db, objects.map((o) => ({ namespace: 'prime-a', name: o.metadata.name })));
    assert.equal(registered.size, objects.length);
    const written = patches.filter((p) => p.name.startsWith('t-'));
    assert.equal(written.length, objects.length, 'one status write per object');
    for (const p of written) {
      assert.equal(ready(p.status)?.status, 'True', JSON.stringify(p.status));
      assert.equal(ready(p.status)?.observedGeneration, 1);
      assert.equal(p.status['taskId'], registered.get(`prime-a/${p.name}`)?.id);
    }
    patches.length = 0;
  });

  it('a newer relist supersedes one still being prepared: every object is reconciled once, from the newer', async () => {
    const tasks = reconciler();
    const first = Array.from({ length: 300 }, (_, i) => object('prime-b', `u-${i}`));
    const held = hold();
    await tasks.prime(first);
    await held.issued;
    // the same objects again, each at a newer resourceVersion (as a relist after 410 Gone brings them)
    const second = first.map((o) => object('prime-b', o.metadata.name));
    await tasks.prime(second);
    held.release();
    for (const o of second) await tasks.reconcile(`prime-b/${o.metadata.name}`, o);
    const registered = await findTasksByKey(core.db, second.map((o) => ({ namespace: 'prime-b', name: o.metadata.name })));
    assert.equal(registered.size, second.length);
    assert.equal(patches.length, second.length);
    for (const p of patches) assert.equal(p.status['taskId'], registered.get(`prime-b/${p.name}`)?.id);
    patches.length = 0;
  });

  it('the relists of two namespaces (two reflectors) keep each other prepared: no reconcile queries Postgres', async () => {
    const tasks = reconciler();
    const one = Array.from({ length: 400 }, (_, i) => object('prime-d', `v-${i}`));
    const two = Array.from({ length: 400 }, (_, i) => object('prime-e', `w-${i}`));
    await tasks.prime(one);
    await tasks.prime(two);
    // the last of each waits for its own chunks; then the others' are done too
    await tasks.reconcile(`prime-d/v-399`, one.at(-1));
    await tasks.reconcile(`prime-e/w-399`, two.at(-1));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const before = queries.count;
    for (const o of [...one.slice(0, -1), ...two.slice(0, -1)]) await tasks.reconcile(`${o.metadata.namespace}/${o.metadata.name}`, o);
    assert.equal(queries.count - before, 0, 'each reconcile used what its relist prepared');
    assert.equal(patches.length, one.length + two.length);
    for (const p of patches) assert.equal(ready(p.status)?.status, 'True');
    patches.length = 0;
  });

  it('runs that change while a chunk reads their run states are read again by the reconcile', async () => {
    const { task } = await upsertKubernetesTask(ctx, { namespace: 'prime-c', name: 'busy', labels: {}, spec: TaskSpec.parse(SPEC) });
    const tasks = reconciler();
    const busy = object('prime-c', 'busy');
    const held = hold();
    await tasks.prime([busy]);
    // the chunk has read the run states (none): a run starts now, and the run follower says so
    await held.issued;
    await triggerKubernetesTask(ctx, task, new Date());
    tasks.runsChanged('prime-c/busy');
    held.release();
    await tasks.reconcile('prime-c/busy', busy);
    assert.equal(patches.length, 1);
    assert.equal(patches[0]?.status['activeRuns'], 1, `the run started after the chunk's read is shown: ${JSON.stringify(patches[0]?.status)}`);
  });
});
