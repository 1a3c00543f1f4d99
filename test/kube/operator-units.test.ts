import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RunChange } from '../../core/store/kubernetes-run-changes.ts';
import type { TaskRunState } from '../../core/store/task-run-states.ts';
import { TaskSpec } from '../../core/model/task.ts';
import { WorkerPoolSpec } from '../../core/model/worker-pool.ts';
import { compileSchedule } from '../../core/schedule/index.ts';
import { buildWorkerDeployment, TEMPLATE_HASH_ANNOTATION } from '../../operator/pool-deployment.ts';
import { COST_IDLE, COST_NO_WORKER, decideReplicas, podDeletionCosts, type ScaleInput } from '../../operator/pool-scaling.ts';
import { poolStatus } from '../../operator/pool-status.ts';
import { eventsForRunChanges, TOO_MANY_MISSED } from '../../operator/run-events.ts';
import { statusPatch } from '../../operator/conditions.ts';
import { desiredTaskStatus, newProblem, type TaskStatusInput } from '../../operator/task-status.ts';
import { nextSlot, specProblem } from '../../operator/task-reconciler.ts';
import { WorkQueue } from '../../operator/work-queue.ts';

const T0 = Date.parse('2026-03-01T10:00:00Z');

describe('pool scaling decision', () => {
  const base: ScaleInput = { min: 1, max: 10, override: undefined, backlog: 0, activeRuns: 0, concurrency: 5, backlogPerReplica: 10, scaleDownDelayMs: 300_000, current: 2, lowSinceMs: undefined, nowMs: T0 };

  it('scales up at once: running runs need ceil(running/concurrency) replicas plus one per backlogPerReplica queued', () => {
    assert.deepEqual(decideReplicas({ ...base, activeRuns: 7, backlog: 25 }), { replicas: 2 + 3, lowSinceMs: undefined, reason: 'ScaleUp' });
  });

  it('never goes above max nor below min', () => {
    assert.equal(decideReplicas({ ...base, backlog: 10_000 }).replicas, 10);
    assert.equal(decideReplicas({ ...base, current: undefined }).replicas, 1);
    assert.equal(decideReplicas({ ...base, min: 0, current: undefined }).replicas, 0);
  });

  it('scales in only after the backlog stayed low for scaleDownDelaySeconds without a break', () => {
    const first = decideReplicas({ ...base, current: 4 });
    assert.deepEqual(first, { replicas: 4, lowSinceMs: T0, reason: 'ScaleDownDelayed' });
    const later = decideReplicas({ ...base, current: 4, lowSinceMs: T0, nowMs: T0 + 299_999 });
    assert.equal(later.replicas, 4);
    assert.deepEqual(decideReplicas({ ...base, current: 4, lowSinceMs: T0, nowMs: T0 + 300_000 }), { replicas: 1, lowSinceMs: undefined, reason: 'ScaleDown' });
    // a burst in between resets the clock
    assert.deepEqual(decideReplicas({ ...base, current: 4, backlog: 40, lowSinceMs: T0, nowMs: T0 + 100_000 }), { replicas: 4, lowSinceMs: undefined, reason: 'Steady' });
  });

  it('cuts a count above a lowered max at once', () => {
    assert.deepEqual(decideReplicas({ ...base, max: 3, current: 8, backlog: 1000 }), { replicas: 3, lowSinceMs: undefined, reason: 'ScaleDown' });
  });

  it('hands over to the scale subresource while spec.replicas.desired is set', () => {
    assert.deepEqual(decideReplicas({ ...base, override: 7, backlog: 0 }), { replicas: 7, lowSinceMs: undefined, reason: 'External' });
  });

  it('makes pods without a worker cheapest to delete, then idle ones, then by runs held', () => {
    const costs = podDeletionCosts(['p-new', 'p-idle', 'p-busy', 'p-busier'], [
      { hostname: 'p-idle', activeRuns: 0 }, { hostname: 'p-busy', activeRuns: 1 }, { hostname: 'p-busier', activeRuns: 4 },
    ]);
    assert.deepEqual([...costs], [['p-new', COST_NO_WORKER], ['p-idle', COST_IDLE], ['p-busy', 100], ['p-busier', 400]]);
  });
});

describe('worker Deployment of a pool', () => {
  const spec = WorkerPoolSpec.parse({ concurrency: 3, template: { image: 'registry.local/hourglass:1.2.3', env: [{ name: 'TZ', value: 'UTC' }], nodeSelector: { pool: 'batch' } } });
  const deployment = buildWorkerDeployment({ pool: { name: 'batch', namespace: 'jobs', uid: 'uid-1' }, spec, replicas: 2, defaultImage: 'hourglass:latest', secretName: 'hg-secret', drainSeconds: 60 });

  it('runs scheduler --mode worker for the pool with the broker Secret and the pool concurrency', () => {
    const container = deployment.spec.template.spec.containers[0];
    assert.equal(deployment.metadata.name, 'batch-workers');
    assert.equal(deployment.metadata.namespace, 'jobs');
    assert.equal(deployment.spec.replicas, 2);
    assert.deepEqual(container.args, ['--mode', 'worker', '--pool', 'batch']);
    assert.equal(container.image, 'registry.local/hourglass:1.2.3');
    assert.deepEqual(container.envFrom, [{ secretRef: { name: 'hg-secret' } }]);
    assert.deepEqual(container.env, [
      { name: 'WORKER_POOL', value: 'batch' },
      { name: 'WORKER_MAX_CONCURRENT_TASKS', value: '3' },
      { name: 'WORKER_SUPPORTED_TASK_TYPES', value: 'shell,http' },
      { name: 'METRICS_BIND_ADDRESS', value: '0.0.0.0:8080' },
      { name: 'TZ', value: 'UTC' },
    ]);
    assert.deepEqual(deployment.spec.template.spec.nodeSelector, { pool: 'batch' });
    assert.equal(deployment.spec.template.spec.terminationGracePeriodSeconds, 75);
  });

  it('is owned by the WorkerPool and selects only its own pods', () => {
    assert.deepEqual(deployment.metadata.ownerReferences, [{ apiVersion: 'scheduling.hourglass.dev/v1alpha1', kind: 'WorkerPool', name: 'batch', uid: 'uid-1', controller: true, blockOwnerDeletion: true }]);
    assert.deepEqual(deployment.spec.selector.matchLabels, { 'app.kubernetes.io/name': 'hourglass-worker', 'scheduling.hourglass.dev/pool': 'batch' });
    for (const [k, v] of Object.entries(deployment.spec.selector.matchLabels)) assert.equal(deployment.spec.template.metadata.labels[k], v);
  });

  it('changes its template hash when the template changes, not when only replicas do', () => {
    const again = buildWorkerDeployment({ pool: { name: 'batch', namespace: 'jobs', uid: 'uid-1' }, spec, replicas: 9, defaultImage: 'hourglass:latest', secretName: 'hg-secret', drainSeconds: 60 });
    const other = buildWorkerDeployment({ pool: { name: 'batch', namespace: 'jobs', uid: 'uid-1' }, spec: { ...spec, concurrency: 4 }, replicas: 2, defaultImage: 'hourglass:latest', secretName: 'hg-secret', drainSeconds: 60 });
    assert.equal(again.metadata.annotations[TEMPLATE_HASH_ANNOTATION], deployment.metadata.annotations[TEMPLATE_HASH_ANNOTATION]);
    assert.notEqual(other.metadata.annotations[TEMPLATE_HASH_ANNOTATION], deployment.metadata.annotations[TEMPLATE_HASH_ANNOTATION]);
  });

  it('reports replicas, load and readiness from live workers in its status', () => {
    const status = poolStatus({
      previous: undefined, generation: 3, decision: { replicas: 2, lowSinceMs: undefined, reason: 'ScaleUp' },
      deployment: { status: { replicas: 2, readyReplicas: 1 } }, load: { backlog: 12, activeRuns: 4, workers: [{ id: 'w1', hostname: 'p1', activeRuns: 4, draining: false }] },
      scaledNow: true, now: new Date(T0), name: 'batch', min: 1,
    });
    assert.equal(status.desiredReplicas, 2);
    assert.equal(status.readyReplicas, 1);
    assert.equal(status.backlog, 12);
    assert.equal(status.lastScaleTime, '2026-03-01T10:00:00.000Z');
    assert.equal(status.selector, 'app.kubernetes.io/name=hourglass-worker,scheduling.hourglass.dev/pool=batch');
    assert.deepEqual(status.conditions?.map((c) => [c.type, c.status, c.reason]), [['Ready', 'True', 'WorkersAlive'], ['ScalingActive', 'True', 'ScaleUp'], ['Degraded', 'False', 'AsExpected']]);
  });
});

describe('ScheduledTask status', () => {
  const spec = TaskSpec.parse({ type: 'shell', shell: { command: ['true'] }, schedule: '*/5 * * * *' });
  const runs: TaskRunState = {
    lastScheduledTime: new Date('2026-03-01T09:55:00Z'),
    lastSuccessfulTime: new Date('2026-03-01T09:55:02Z'),
    active: [{ id: '42', status: 'running', trigger: 'manual', scheduledTime: new Date('2026-03-01T09:58:00Z'), finishedAt: null }],
    lastFinished: { id: '41', status: 'succeeded', trigger: 'schedule', scheduledTime: new Date('2026-03-01T09:55:00Z'), finishedAt: new Date('2026-03-01T09:55:02Z') },
  };
  const input: TaskStatusInput = { generation: 2, previous: undefined, spec, taskId: 'abc', problem: undefined, runs, nextScheduleMs: Date.parse('2026-03-01T10:00:00Z'), lastTrigger: undefined, now: new Date(T0) };

  it('shows observedGeneration, Ready/Degraded, schedule times, active runs and the last run', () => {
    const status = desiredTaskStatus(input);
    assert.equal(status.observedGeneration, 2);
    assert.deepEqual(status.conditions?.map((c) => [c.type, c.status, c.reason]), [['Ready', 'True', 'Scheduled'], ['Degraded', 'False', 'AsExpected']]);
    assert.equal(status.lastScheduleTime, '2026-03-01T09:55:00.000Z');
    assert.equal(status.nextScheduleTime, '2026-03-01T10:00:00.000Z');
    assert.equal(status.lastSuccessfulTime, '2026-03-01T09:55:02.000Z');
    assert.deepEqual(status.active, [{ runId: '42', scheduledTime: '2026-03-01T09:58:00.000Z', phase: 'Running' }]);
    assert.deepEqual(status.lastRun, { runId: '41', phase: 'Succeeded', scheduledTime: '2026-03-01T09:55:00.000Z', trigger: 'schedule', finishedAt: '2026-03-01T09:55:02.000Z' });
  });

  it('is not written again when nothing changed, and keeps lastTransitionTime while a condition holds', () => {
    const first = desiredTaskStatus(input);
    const second = desiredTaskStatus({ ...input, previous: first, now: new Date(T0 + 60_000) });
    assert.equal(statusPatch(first, second), undefined);
    assert.equal(second.conditions?.[0]?.lastTransitionTime, '2026-03-01T10:00:00.000Z');
  });

  it('patches only what changed, nulling fields that disappeared', () => {
    const before = desiredTaskStatus(input);
    const after = desiredTaskStatus({ ...input, previous: before, runs: { ...runs, active: [] } });
    const patch = statusPatch(before, after);
    assert.equal(patch?.['active'], null);
  });

  it('marks an invalid schedule Degraded with reason InvalidSchedule, once', () => {
    const good = desiredTaskStatus(input);
    const bad = desiredTaskStatus({ ...input, previous: good, generation: 3, problem: { reason: 'InvalidSchedule', message: 'schedule: "61 * * * *": minute 61 out of range' }, now: new Date(T0 + 1000) });
    assert.deepEqual(bad.conditions?.map((c) => [c.type, c.status, c.reason]), [['Ready', 'False', 'InvalidSchedule'], ['Degraded', 'True', 'InvalidSchedule']]);
    assert.match(bad.conditions?.[1]?.message ?? '', /previous valid spec stays in effect/);
    assert.equal(newProblem(good, bad)?.reason, 'InvalidSchedule');
    assert.equal(newProblem(bad, desiredTaskStatus({ ...input, previous: bad, generation: 3, problem: { reason: 'InvalidSchedule', message: 'schedule: "61 * * * *": minute 61 out of range' } })), undefined);
  });

  it('classifies core validation errors into condition reasons', async () => {
    const { compileSchedule: compile } = await import('../../core/schedule/index.ts');
    const reasonOf = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        return specProblem(error)?.reason;
      }
      return 'no error';
    };
    assert.equal(reasonOf(() => compile('61 * * * *', 'UTC')), 'InvalidSchedule');
    assert.equal(reasonOf(() => compile('* * * * *', 'Mars/Olympus')), 'UnknownTimeZone');
    assert.equal(specProblem(new Error('connection reset')), undefined);
    const { ValidationError } = await import('../../core/model/errors.ts');
    assert.equal(specProblem(new ValidationError('task', [{ path: 'dependsOn', message: 'creates a cycle: a -> b -> ... -> a' }]))?.reason, 'DependencyCycle');
    assert.equal(specProblem(new ValidationError('ScheduledTask', [{ path: 'metadata.labels', message: 'too long' }]))?.reason, 'InvalidSpec');
  });

  it('computes the next slot after the last one fired, none when suspended or on demand', () => {
    assert.equal(nextSlot(spec, new Date('2026-03-01T09:55:00Z'), T0 - 1), T0);
    assert.equal(nextSlot({ ...spec, suspend: true }, null, T0), undefined);
    const { schedule: _s, ...onDemand } = spec;
    assert.equal(nextSlot(onDemand as typeof spec, null, T0), undefined);
    assert.equal(compileSchedule('*/5 * * * *').next(T0), T0 + 300_000);
  });
});

describe('Events from run changes', () => {
  const change = (over: Partial<RunChange>): RunChange => ({
    id: '1', status: 'queued', trigger: 'schedule', scheduledTime: new Date(T0), finishedAt: null, namespace: 'ns', name: 'job', created: true, finished: false, error: null, reason: null, ...over,
  });

  it('uses the CronJob vocabulary: SuccessfulCreate per fire (shards together), SawCompletedJob; a miss under its reason code', () => {
    const events = eventsForRunChanges([
      change({ id: '1' }), change({ id: '2' }),
      change({ id: '3', status: 'failed', created: false, finished: true, finishedAt: new Date(T0), error: 'exit code 2' }),
      change({ id: '4', status: 'missed', finishedAt: new Date(T0), finished: true, scheduledTime: new Date(T0 - 60_000), error: 'fire missed: 400s late, past startingDeadlineSeconds 60' }),
      change({ id: '5', trigger: 'manual', name: 'other' }),
    ]).get('ns/job');
    assert.deepEqual(events?.map((e) => [e.type, e.reason]), [['Warning', 'StartingDeadlineExceeded'], ['Normal', 'SuccessfulCreate'], ['Warning', 'SawCompletedJob']]);
    assert.equal(events?.[1]?.message, 'Created a run of 2 shards on schedule');
    assert.equal(events?.[2]?.message, 'Saw completed run, status: Failed');
  });

  it('gives messages with no time or run id, so repeats aggregate into one Event', () => {
    const first = eventsForRunChanges([change({ id: '1', scheduledTime: new Date(T0) }), change({ id: '2', status: 'succeeded', created: false, finished: true })]).get('ns/job');
    const later = eventsForRunChanges([change({ id: '9', scheduledTime: new Date(T0 + 60_000) }), change({ id: '8', status: 'succeeded', created: false, finished: true })]).get('ns/job');
    assert.deepEqual(later, first);
  });

  it('folds a burst of missed slots into one TooManyMissedTimes', () => {
    const missed = Array.from({ length: TOO_MANY_MISSED + 1 }, (_, i) => change({ id: String(i), status: 'missed', scheduledTime: new Date(T0 + i * 60_000) }));
    assert.deepEqual(eventsForRunChanges(missed).get('ns/job')?.map((e) => e.reason), ['TooManyMissedTimes']);
  });

  it('reports a skip under the run\'s reason code: its column when set, else derived from the sentence', () => {
    const reasons = (over: Partial<RunChange>) => eventsForRunChanges([change({ status: 'skipped', finished: true, ...over })]).get('ns/job')?.map((e) => e.reason);
    assert.deepEqual(reasons({ error: 'run 7 is still running (concurrencyPolicy Forbid)' }), ['ConcurrencyForbid']);
    assert.deepEqual(reasons({ error: 'dependency "a" has not run yet (dependsOn)' }), ['DependencyNotMet'], 'a dependsOn skip is not reported as Forbid');
    assert.deepEqual(reasons({ error: 'whatever the sentence', reason: 'Suspended' }), ['Suspended'], 'the stored code wins');
  });
});

describe('work queue', () => {
  it('holds a key once however often it is added, and once more if it changed while being processed', async () => {
    const queue = new WorkQueue({ retryBaseMs: 10, retryMaxMs: 100 });
    queue.add('a');
    queue.add('a');
    queue.add('b');
    assert.equal(queue.depth, 2);
    const key = await queue.get();
    assert.equal(key, 'a');
    queue.add('a');
    assert.equal(queue.depth, 1, 'a is being processed: not queued twice');
    queue.done('a');
    assert.equal(queue.depth, 2, 'a comes back after done because it changed meanwhile');
    queue.shutDown();
    assert.equal(await queue.get(), undefined);
  });

  it('backs off a failing key exponentially up to the cap, and forgets on success', () => {
    const queue = new WorkQueue({ retryBaseMs: 10, retryMaxMs: 35 });
    assert.deepEqual([queue.addRateLimited('k'), queue.addRateLimited('k'), queue.addRateLimited('k'), queue.addRateLimited('k')], [10, 20, 35, 35]);
    queue.forget('k');
    assert.equal(queue.addRateLimited('k'), 10);
    queue.shutDown();
  });
});
