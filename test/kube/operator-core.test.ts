import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CoreContext } from '../../core/dispatch/context.ts';
import { deleteKubernetesTask, manualRunTime, triggerKubernetesTask, upsertKubernetesTask } from '../../core/dispatch/kubernetes-task-writes.ts';
import { triggerTask } from '../../core/dispatch/tasks.ts';
import { TaskSpec } from '../../core/model/task.ts';
import { ScheduleError } from '../../core/schedule/errors.ts';
import { kubernetesRunChanges } from '../../core/store/kubernetes-run-changes.ts';
import { listKubernetesTasks } from '../../core/store/kubernetes-tasks.ts';
import { poolLoad } from '../../core/store/kubernetes-pools.ts';
import { createTask } from '../../core/store/tasks.ts';
import { taskRunState } from '../../core/store/task-run-states.ts';
import { coreOnTestDatabase } from '../support/core.ts';
import { skipUnless } from '../support/services.ts';

const spec = (over: Record<string, unknown> = {}) => TaskSpec.parse({ type: 'shell', shell: { command: ['true'] }, pool: 'k8s-pool', ...over });

describe('core/dispatch/kubernetes-task-writes and core/store/kubernetes-* (what the operator needs from Postgres)', { skip: await skipUnless('postgres') }, () => {
  let core: Awaited<ReturnType<typeof coreOnTestDatabase>>;
  let ctx: CoreContext;
  before(async () => {
    core = await coreOnTestDatabase();
    ctx = core.ctx;
  });
  after(async () => core?.close());

  it('upserts by (namespace, name) with source kubernetes, writing nothing when the spec is unchanged', async () => {
    const first = await upsertKubernetesTask(ctx, { namespace: 'team-a', name: 'report', labels: { app: 'x' }, spec: spec({ schedule: '0 2 * * *' }) });
    assert.equal(first.changed, true);
    assert.equal(first.task.source, 'kubernetes');
    assert.equal(first.task.namespace, 'team-a');
    const again = await upsertKubernetesTask(ctx, { namespace: 'team-a', name: 'report', labels: { app: 'x' }, spec: spec({ schedule: '0 2 * * *' }) });
    assert.deepEqual([again.changed, again.task.id, again.task.generation], [false, first.task.id, 1]);
    const edited = await upsertKubernetesTask(ctx, { namespace: 'team-a', name: 'report', labels: { app: 'x' }, spec: spec({ schedule: '0 3 * * *' }) });
    assert.deepEqual([edited.changed, edited.task.id, edited.task.generation], [true, first.task.id, 2]);
    const other = await upsertKubernetesTask(ctx, { namespace: 'team-b', name: 'report', labels: {}, spec: spec() });
    assert.notEqual(other.task.id, first.task.id, 'the same name in another namespace is another task');
    assert.deepEqual((await listKubernetesTasks(ctx.db, ['team-a'])).map((t) => t.name), ['report']);
  });

  it('refuses a schedule the core cannot compile before writing anything, with a stable reason', async () => {
    await assert.rejects(upsertKubernetesTask(ctx, { namespace: 'team-a', name: 'bad', labels: {}, spec: spec({ schedule: '61 * * * *' }) }), (error: unknown) => error instanceof ScheduleError && error.reason === 'InvalidSchedule');
    await assert.rejects(upsertKubernetesTask(ctx, { namespace: 'team-a', name: 'bad', labels: {}, spec: spec({ schedule: '* * * * *', timeZone: 'Nowhere/Land' }) }), (error: unknown) => error instanceof ScheduleError && error.reason === 'UnknownTimeZone');
    assert.equal((await listKubernetesTasks(ctx.db)).some((t) => t.name === 'bad'), false);
  });

  it('refuses a dependsOn that would close a cycle', async () => {
    await upsertKubernetesTask(ctx, { namespace: 'team-f', name: 'first', labels: {}, spec: spec({ dependsOn: ['second'] }) });
    await assert.rejects(upsertKubernetesTask(ctx, { namespace: 'team-f', name: 'second', labels: {}, spec: spec({ dependsOn: ['first'] }) }), /dependsOn: creates a cycle/);
    await assert.rejects(upsertKubernetesTask(ctx, { namespace: 'team-f', name: 'selfish', labels: {}, spec: spec({ dependsOn: ['selfish'] }) }), /cannot depend on itself/);
    await upsertKubernetesTask(ctx, { namespace: 'team-g', name: 'second', labels: {}, spec: spec({ dependsOn: ['first'] }) });
  });

  it('never takes over a task managed through the REST API', async () => {
    await createTask(ctx.db, { namespace: 'team-c', name: 'api-owned', labels: {}, spec: spec() });
    await assert.rejects(upsertKubernetesTask(ctx, { namespace: 'team-c', name: 'api-owned', labels: {}, spec: spec() }), /managed through the REST API/);
  });

  it('creates a manual run once per remembered trigger time, however often it is retried', async () => {
    const { task } = await upsertKubernetesTask(ctx, { namespace: 'team-e', name: 'button', labels: {}, spec: spec({ shards: 3, schedule: '* * * * *', pool: 'button-pool' }) });
    const at = manualRunTime(task, Date.parse('2026-03-01T10:00:00Z'));
    assert.equal(at.toISOString(), '2026-03-01T10:00:00.001Z', 'a slot of the schedule is left to the schedule');
    assert.equal(await triggerKubernetesTask(ctx, task, at), 3, 'all shards');
    assert.equal(await triggerKubernetesTask(ctx, task, at), 0, 'a retry after a crash creates nothing');
    const { rows } = await ctx.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM hg_runs WHERE task_id = $1 AND trigger = 'manual'`, [task.id]);
    assert.equal(rows[0]?.n, '3');
  });

  it('follows runs: changes since a cursor, the status facts, the pool backlog; delete cancels active runs', async () => {
    const { task } = await upsertKubernetesTask(ctx, { namespace: 'team-d', name: 'manual', labels: {}, spec: spec({ shards: 2 }) });
    const start = await kubernetesRunChanges(ctx.db, undefined, 0);
    assert.deepEqual(start.changes, [], 'the first call only places the cursor');
    await triggerTask(ctx, task.id);
    const { changes, cursor } = await kubernetesRunChanges(ctx.db, start.cursor, 0);
    assert.deepEqual(changes.map((c) => [c.namespace, c.name, c.created, c.trigger, c.status]), [['team-d', 'manual', true, 'manual', 'queued'], ['team-d', 'manual', true, 'manual', 'queued']]);
    assert.deepEqual((await kubernetesRunChanges(ctx.db, cursor, 0)).changes, [], 'nothing new: nothing returned');
    const state = await taskRunState(ctx.db, task.id);
    assert.equal(state.active.length, 2);
    assert.equal(state.lastFinished, null);
    const load = await poolLoad(ctx.db, 'k8s-pool');
    assert.deepEqual([load.backlog, load.activeRuns], [2, 0]);
    assert.equal(await deleteKubernetesTask(ctx, 'team-d', 'manual'), 2);
    const finished = await kubernetesRunChanges(ctx.db, cursor, 0);
    assert.deepEqual(finished.changes.map((c) => [c.finished, c.status]), [[true, 'cancelled'], [true, 'cancelled']]);
    const after = await taskRunState(ctx.db, task.id);
    assert.equal(after.active.length, 0);
    assert.equal(after.lastFinished?.status, 'cancelled');
    assert.equal(await deleteKubernetesTask(ctx, 'team-d', 'manual'), 0, 'deleting twice is harmless');
  });
});
