import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Dispatcher } from '../../core/dispatch/dispatcher.ts';
import { createRuns, promoteDueRuns, toRunMessage } from '../../core/dispatch/enqueue.ts';
import { finishAttempts } from '../../core/dispatch/outcomes.ts';
import { reap } from '../../core/dispatch/reaper.ts';
import { HistoryRetention } from '../../core/dispatch/retention.ts';
import { applyStatusEvents, decideClaims } from '../../core/dispatch/status.ts';
import { createTaskFromInput, replaceTaskFromInput, triggerTask } from '../../core/dispatch/tasks.ts';
import { cancelRuns, getRun } from '../../core/store/runs.ts';
import { createPostgresConsumer } from '../../core/queue/postgres.ts';
import { parseDrainTarget } from '../../core/queue/worker-identity.ts';
import { coreOnTestDatabase, postgresConsumer, runsOf } from '../support/core.ts';
import { skipUnless } from '../support/services.ts';

const skip = await skipUnless('postgres');

describe('dispatch against Postgres', { skip }, () => {
  let env: Awaited<ReturnType<typeof coreOnTestDatabase>>;
  before(async () => (env = await coreOnTestDatabase()));
  after(async () => env?.close());

  const noop = (name: string, extra: Record<string, unknown> = {}) =>
    createTaskFromInput(env.ctx, { name, type: 'noop', params: {}, ...extra });

  it('writes one run per (task, scheduled time, shard) however often a slot is fired', async () => {
    const task = await noop('idempotent', { shards: 3 });
    const slot = new Date('2026-01-01T00:00:00Z');
    const first = await createRuns(env.ctx, [{ task, scheduledTime: slot, trigger: 'schedule' }]);
    const again = await createRuns(env.ctx, [{ task, scheduledTime: slot, trigger: 'schedule' }, { task, scheduledTime: slot, trigger: 'schedule' }]);
    assert.equal(first.length, 3);
    assert.equal(again.length, 0);
    const runs = await runsOf(env.db, task.id);
    assert.deepEqual(runs.map((r) => r.status), ['queued', 'queued', 'queued']);
  });

  for (const [catchUp, expectQueued, expectMissed] of [
    ['All', 10, 0],
    ['Latest', 1, 9],
    // None still runs the fire whose time has just come (500 ms ago), and nothing older
    ['None', 1, 9],
  ] as const) {
    it(`after downtime, catchUp ${catchUp} runs ${expectQueued} of 10 fires and records ${expectMissed} as missed`, async () => {
      const task = await noop(`catchup-${catchUp.toLowerCase()}`, { schedule: '@every 1s', catchUp });
      // pretend the task last fired 10.5 s ago, then a dispatcher starts
      const now = Math.floor(Date.now() / 1000) * 1000 + 500;
      env.clock.ms = now;
      // made before the downtime: its anchor (creation) precedes its last fire
      await env.db.query('UPDATE hg_tasks SET last_scheduled_time = $2, schedule_anchor = $3 WHERE id = $1', [task.id, new Date(now - 10_500), new Date(now - 60_000)]);
      const dispatcher = new Dispatcher(env.ctx, { syncIntervalMs: 60_000, maxBatch: 1000 });
      await dispatcher.start();
      await new Promise((resolve) => setTimeout(resolve, 300));
      await dispatcher.stop();
      env.clock.ms = undefined;
      const runs = await runsOf(env.db, task.id);
      const inWindow = runs.filter((r) => r.scheduled_time.getTime() <= now);
      assert.equal(inWindow.filter((r) => r.status === 'queued').length, expectQueued);
      assert.equal(inWindow.filter((r) => r.status === 'missed').length, expectMissed);
      assert.equal(new Set(runs.map((r) => r.scheduled_time.getTime())).size, runs.length, 'no slot twice');
    });
  }

  it('skips a fire while the previous run is active under concurrencyPolicy Forbid', async () => {
    const task = await noop('forbid', { schedule: '@every 1s', concurrencyPolicy: 'Forbid', catchUp: 'Latest' });
    await createRuns(env.ctx, [{ task, scheduledTime: new Date(Date.now() - 5000), trigger: 'manual' }]);
    const dispatcher = new Dispatcher(env.ctx, { syncIntervalMs: 60_000, maxBatch: 1000 });
    await dispatcher.start();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await dispatcher.stop();
    const skipped = (await runsOf(env.db, task.id)).filter((r) => r.status === 'skipped');
    assert.ok(skipped.length >= 1, 'at least one fire was skipped');
    assert.match(skipped[0]?.error ?? '', /concurrencyPolicy Forbid/);
  });

  it('retries a failed attempt after its backoff, up to the limit, then stays failed', async () => {
    const task = await noop('retrying', { retry: { limit: 1, backoff: { initialSeconds: 2, factor: 2, maxSeconds: 60, jitter: 0 } } });
    const run = await triggerTask(env.ctx, task.id);
    const failedAt = Date.now();
    await finishAttempts(env.ctx, [{ runId: run.id, attempt: 1, status: 'failed', at: new Date(), error: 'exited with code 1', exitCode: 1 }]);
    let runs = await runsOf(env.db, task.id);
    assert.equal(runs.length, 2);
    const retry = runs[1];
    assert.equal(retry?.attempt, 2);
    assert.equal(retry?.trigger, 'retry');
    assert.equal(retry?.status, 'pending');
    const delay = (retry?.not_before?.getTime() ?? 0) - failedAt;
    assert.ok(delay >= 1900 && delay <= 2500, `backoff was ${delay} ms`);
    // not promoted before its time, promoted after
    assert.equal(await promoteDueRuns(env.ctx), 0);
    env.clock.ms = Date.now() + 3000;
    assert.equal(await promoteDueRuns(env.ctx), 1);
    env.clock.ms = undefined;
    await finishAttempts(env.ctx, [{ runId: retry?.id as string, attempt: 2, status: 'failed', at: new Date(), error: 'exited with code 1' }]);
    runs = await runsOf(env.db, task.id);
    assert.deepEqual(runs.map((r) => [r.attempt, r.status]), [[1, 'failed'], [2, 'failed']]);
    // a replayed outcome changes nothing
    await finishAttempts(env.ctx, [{ runId: retry?.id as string, attempt: 2, status: 'succeeded', at: new Date() }]);
    assert.equal((await runsOf(env.db, task.id))[1]?.status, 'failed');
  });

  it('grants a claim to one worker only', async () => {
    const task = await noop('claimed');
    const run = await triggerTask(env.ctx, task.id);
    const answers = await decideClaims(env.ctx, [
      { runId: run.id, attempt: 1, workerId: 'w1' },
      { runId: run.id, attempt: 1, workerId: 'w2' },
    ]);
    assert.deepEqual(answers.filter(Boolean).length, 1);
    const again = await decideClaims(env.ctx, [{ runId: run.id, attempt: 1, workerId: 'w3' }]);
    assert.deepEqual(again, [false]);
  });

  const beat = (workerId: string, pool: string, extra: Record<string, unknown> = {}) =>
    applyStatusEvents(env.ctx, [{ kind: 'heartbeat', workerId, pool, taskTypes: ['noop'], concurrency: 1, activeRuns: 1, status: 'ALIVE', hostname: 'h', version: 't', startedAt: new Date().toISOString(), at: new Date().toISOString(), ...extra }]);

  it('declares a silent worker dead and retries its running attempt', async (t) => {
    t.after(() => (env.clock.ms = undefined));
    const task = await noop('orphaned', { pool: 'reaper', retry: { limit: 1, backoff: { initialSeconds: 0, jitter: 0 } } });
    const run = await triggerTask(env.ctx, task.id);
    const consumer = postgresConsumer(env.ctx, 'doomed');
    await beat('doomed', 'reaper');
    const [delivery] = await consumer.receive('reaper', { max: 10, waitMs: 0 });
    assert.equal(delivery?.message.runId, run.id);
    await consumer.close();
    const t0 = Date.now();
    env.clock.ms = t0;
    await reap(env.ctx, { workerTimeoutSeconds: 30 });
    env.clock.ms = t0 + 3_600_000;
    await env.db.query(`UPDATE hg_runs SET started_at = now() - interval '1 hour' WHERE id = $1`, [run.id]);
    const result = await reap(env.ctx, { workerTimeoutSeconds: 30 });
    assert.ok(result.workersDown >= 1);
    const { rows } = await env.db.query<{ status: string }>(`SELECT status FROM hg_workers WHERE id = 'doomed'`);
    assert.equal(rows[0]?.status, 'DOWN');
    const runs = await runsOf(env.db, task.id);
    assert.equal(runs[0]?.status, 'failed');
    assert.match(runs[0]?.error ?? '', /worker doomed declared dead: no heartbeat for 30s/);
    assert.equal(runs[1]?.attempt, 2);
    assert.ok(['pending', 'queued'].includes(runs[1]?.status as string));
  });

  it('does not declare healthy workers dead after a database outage longer than the timeout (issue 12, defect 11)', async (t) => {
    const query = env.db.query;
    t.after(() => {
      env.clock.ms = undefined;
      env.db.query = query;
    });
    const status = async () => (await env.db.query<{ status: string }>(`SELECT status FROM hg_workers WHERE id = 'survivor'`)).rows[0]?.status;
    const t0 = Date.now() + 7_200_000;
    env.clock.ms = t0;
    await beat('survivor', 'outage');
    await reap(env.ctx, { workerTimeoutSeconds: 30 });
    // the database goes away for two minutes: the reaper cannot run, heartbeats cannot land
    env.db.query = async () => Promise.reject(Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' }));
    env.clock.ms = t0 + 60_000;
    await assert.rejects(reap(env.ctx, { workerTimeoutSeconds: 30 }));
    env.db.query = query;
    env.clock.ms = t0 + 120_000;
    // back: 120 s of silence, but the core could not hear the worker for most of it
    await reap(env.ctx, { workerTimeoutSeconds: 30 });
    assert.equal(await status(), 'ALIVE');
    env.clock.ms = t0 + 125_000;
    await beat('survivor', 'outage');
    env.clock.ms = t0 + 150_000;
    await reap(env.ctx, { workerTimeoutSeconds: 30 });
    assert.equal(await status(), 'ALIVE', 'heard after the outage');
    // and silence while the core can hear still counts
    env.clock.ms = t0 + 160_000;
    await reap(env.ctx, { workerTimeoutSeconds: 30 });
    assert.equal(await status(), 'DOWN');
  });

  it('fails an attempt of a live worker only on the worker\'s word that it gave up the claim', async () => {
    const task = await noop('unheld', { pool: 'unheld', retry: { limit: 1, backoff: { initialSeconds: 0, jitter: 0 } } });
    const held = await triggerTask(env.ctx, task.id);
    const lost = await triggerTask(env.ctx, task.id);
    assert.deepEqual(await decideClaims(env.ctx, [{ runId: held.id, attempt: 1, workerId: 'alive' }, { runId: lost.id, attempt: 1, workerId: 'alive' }]), [true, true]);
    await env.db.query(`UPDATE hg_runs SET started_at = now() - interval '1 minute' WHERE id = ANY($1::bigint[])`, [[held.id, lost.id]]);
    await beat('alive', 'unheld', { held: [] });
    assert.equal((await reap(env.ctx, { workerTimeoutSeconds: 30 })).runsFailed, 0, 'not listed proves nothing');
    await beat('alive', 'unheld', { held: [`${held.id}/1`], abandoned: [`${lost.id}/1`, `${held.id}/7`, 'junk'] });
    const runs = await runsOf(env.db, task.id);
    const byId = new Map(runs.map((r) => [`${r.id}`, r]));
    assert.equal(byId.get(held.id)?.status, 'running');
    assert.equal(byId.get(lost.id)?.status, 'failed');
    assert.match(byId.get(lost.id)?.error ?? '', /worker alive never received its claim/);
    assert.ok(runs.some((r) => r.attempt === 2), 'the lost attempt is retried');
    await promoteDueRuns(env.ctx); // as the leader's retry timer does: no due retry is left for later tests
  });

  it('reconciles an outcome that arrives after the core failed its attempt: recorded as it ran, retry withdrawn', async () => {
    const task = await noop('late-outcome', { pool: 'late', retry: { limit: 2, backoff: { initialSeconds: 60, jitter: 0 } } });
    const run = await triggerTask(env.ctx, task.id);
    assert.deepEqual(await decideClaims(env.ctx, [{ runId: run.id, attempt: 1, workerId: 'partitioned' }]), [true]);
    await finishAttempts(env.ctx, [{ runId: run.id, attempt: 1, status: 'failed', at: new Date(), error: 'worker partitioned declared dead', byCore: true, expectWorkerId: 'partitioned' }]);
    assert.deepEqual((await runsOf(env.db, task.id)).map((r) => [r.attempt, r.status]), [[1, 'failed'], [2, 'pending']]);
    await applyStatusEvents(env.ctx, [{ kind: 'finished', runId: run.id, attempt: 1, workerId: 'partitioned', at: new Date().toISOString(), status: 'succeeded', output: 'it ran' }]);
    const runs = await runsOf(env.db, task.id);
    assert.deepEqual(runs.map((r) => [r.attempt, r.status]), [[1, 'succeeded']], 'no second execution');
    // an outcome from a worker that never held the attempt is refused and kept with the reason
    const other = await triggerTask(env.ctx, task.id);
    await decideClaims(env.ctx, [{ runId: other.id, attempt: 1, workerId: 'owner' }]);
    await applyStatusEvents(env.ctx, [{ kind: 'finished', runId: other.id, attempt: 1, workerId: 'forger', at: new Date().toISOString(), status: 'succeeded', output: 'forged' }]);
    assert.equal((await getRun(env.db, other.id)).status, 'running');
    const { rows } = await env.db.query<{ reason: string }>(`SELECT reason FROM hg_dead_letters WHERE run_id = $1`, [other.id]);
    assert.match(rows[0]?.reason ?? '', /worker "forger" does not hold attempt/);
  });

  it('shows a worker that stopped cleanly as STOPPED, not DOWN, and deletes gone workers after the retention (issue 18, item 16)', async (t) => {
    t.after(() => (env.clock.ms = undefined));
    await beat('polite', 'stopping');
    await beat('polite', 'stopping', { status: 'DOWN', activeRuns: 0 });
    const status = async (id: string) => (await env.db.query<{ status: string }>('SELECT status FROM hg_workers WHERE id = $1', [id])).rows[0]?.status;
    assert.equal(await status('polite'), 'STOPPED');
    const t0 = Date.now() + 10 * 86_400_000;
    env.clock.ms = t0;
    await reap(env.ctx, { workerTimeoutSeconds: 30, workerRetentionSeconds: 86_400 });
    env.clock.ms = t0 + 120_000;
    await reap(env.ctx, { workerTimeoutSeconds: 30, workerRetentionSeconds: 86_400 });
    assert.equal(await status('polite'), undefined, 'aged out');
  });

  it('refuses a second process that heartbeats under a live worker id, and tells only it to drain (issue 12, defect 15)', async () => {
    const consumer = postgresConsumer(env.ctx, 'twin');
    const drained: string[] = [];
    const sub = await consumer.onDrain((target) => drained.push(target));
    await beat('twin', 'twins', { incarnation: 'first', held: ['1/1'] });
    await beat('twin', 'twins', { incarnation: 'second', held: [] });
    const { rows } = await env.db.query<{ incarnation: string; held_runs: string[] }>('SELECT incarnation, held_runs FROM hg_workers WHERE id = $1', ['twin']);
    assert.equal(rows[0]?.incarnation, 'first', 'the live process keeps its row');
    assert.deepEqual(rows[0]?.held_runs, ['1/1']);
    const letters = await env.db.query<{ reason: string }>(`SELECT reason FROM hg_dead_letters WHERE worker_id = 'twin'`);
    assert.match(letters.rows[0]?.reason ?? '', /held by another live process/);
    const deadline = Date.now() + 3000;
    while (drained.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
    await sub.close();
    await consumer.close();
    // the drain names the second incarnation: the guarded consumer of the first ignores it
    assert.deepEqual(drained.map((d) => parseDrainTarget(d)), [{ workerId: 'twin', incarnation: 'second' }]);
  });

  it('never records a start before the run was queued, whatever the worker\'s clock says (issue 18, item 19)', async () => {
    const task = await noop('skewed', { pool: 'skewed' });
    const run = await triggerTask(env.ctx, task.id);
    const behind = new Date(Date.now() - 3_600_000).toISOString();
    await applyStatusEvents(env.ctx, [
      { kind: 'started', runId: run.id, attempt: 1, workerId: 'slow-clock', at: behind },
      { kind: 'finished', runId: run.id, attempt: 1, workerId: 'slow-clock', at: behind, status: 'succeeded' },
    ]);
    const stored = await getRun(env.db, run.id);
    assert.equal(stored.status, 'succeeded');
    assert.ok(stored.queuedAt && stored.startedAt && stored.finishedAt);
    assert.ok(Date.parse(stored.startedAt) >= Date.parse(stored.queuedAt), `startedAt ${stored.startedAt} before queuedAt ${stored.queuedAt}`);
    assert.ok(Date.parse(stored.finishedAt) >= Date.parse(stored.startedAt));
  });

  it('runs the spec as it was when the run was made, not as edited since (issue 12, defect 16)', async () => {
    const body = { name: 'edited-later', type: 'shell', shell: { command: ['echo', 'before'] }, pool: 'edited', timeoutSeconds: 30 };
    const task = await createTaskFromInput(env.ctx, body);
    const run = await triggerTask(env.ctx, task.id);
    await replaceTaskFromInput(env.ctx, task.id, { ...body, shell: { command: ['echo', 'after'] }, timeoutSeconds: 99 });
    const consumer = postgresConsumer(env.ctx, 'edited-w');
    const [delivery] = await consumer.receive('edited', { max: 1, waitMs: 0 });
    await consumer.close();
    assert.equal(delivery?.message.runId, run.id);
    assert.deepEqual((delivery?.message.spec.shell as { command: string[] }).command, ['echo', 'before']);
    assert.equal(delivery?.message.timeoutSeconds, 30);
    // the same builder as the brokers' messages: the same fields, in the same shape
    assert.deepEqual(Object.keys(delivery?.message ?? {}).sort(), Object.keys(toRunMessage({ id: run.id, taskId: task.id, scheduledTime: new Date(), shard: 0, shardTotal: 1, attempt: 1, status: 'queued', notBefore: null }, task)).sort());
  });

  it('hands out a run a dequeue took although its answer was lost (issue 12, defect 6, postgres queue)', async () => {
    const task = await noop('lost-answer', { pool: 'lost-answer' });
    const run = await triggerTask(env.ctx, task.id);
    let dropNext = true;
    const lossy = Object.assign(Object.create(env.db) as typeof env.db, {
      query: async (sql: string, params?: unknown[]) => {
        const result = await env.db.query(sql, params);
        if (dropNext && sql.includes('hg_dequeue(')) {
          dropNext = false;
          throw Object.assign(new Error('connection terminated unexpectedly'), { code: 'ECONNRESET' }); // committed, answer lost
        }
        return result;
      },
    });
    const consumer = createPostgresConsumer({ db: lossy, workerId: 'lossy-w', applyStatus: (events) => applyStatusEvents(env.ctx, events) });
    await assert.rejects(consumer.receive('lost-answer', { max: 1, waitMs: 0 }), /connection terminated/);
    assert.equal((await getRun(env.db, run.id)).status, 'running', 'the dequeue committed');
    const [recovered] = await consumer.receive('lost-answer', { max: 1, waitMs: 0 });
    assert.equal(recovered?.message.runId, run.id, 'the taken run is handed out, not left running for nobody');
    assert.deepEqual(await consumer.receive('lost-answer', { max: 1, waitMs: 0 }), [], 'and only once');
    await consumer.close();
  });

  it('keeps each task\'s finished history within spec.history, never touching active runs', async () => {
    const task = await noop('retained', { pool: 'retained', history: { successfulRunsLimit: 2, failedRunsLimit: 1 } });
    const other = await noop('unlimited', { pool: 'retained' });
    const runs = [];
    for (let i = 0; i < 7; i++) runs.push(await triggerTask(env.ctx, task.id));
    const outcome = (i: number) => (i < 4 ? 'succeeded' : 'failed') as 'succeeded' | 'failed';
    await finishAttempts(env.ctx, runs.slice(0, 6).map((run, i) => ({ runId: run.id, attempt: 1, status: outcome(i), at: new Date() })));
    const otherRun = await triggerTask(env.ctx, other.id);
    await finishAttempts(env.ctx, [{ runId: otherRun.id, attempt: 1, status: 'succeeded', at: new Date() }]);
    const retention = new HistoryRetention(env.ctx);
    const deleted = await retention.pass();
    assert.equal(deleted, 3, '2 of 4 succeeded and 1 of 2 failed runs go');
    const left = await runsOf(env.db, task.id);
    assert.deepEqual(left.map((r) => r.status).sort(), ['failed', 'queued', 'succeeded', 'succeeded']);
    assert.deepEqual(left.filter((r) => r.status === 'succeeded').map((r) => r.id), [runs[2]?.id, runs[3]?.id], 'the newest are kept');
    assert.equal((await runsOf(env.db, other.id)).length, 1, 'other tasks keep theirs');
    assert.equal(await retention.pass(), 0, 'a second pass finds nothing');
  });

  it('keeps firing after the database refused its writes for a while, without losing or doubling a slot', async () => {
    // three tasks written one per batch: a refused batch must not strand the ones after it
    const tasks = await Promise.all(['outage-a', 'outage-b', 'outage-c'].map((name) => noop(name, { pool: 'outage', schedule: '@every 1s', catchUp: 'All' })));
    let refusals = 0;
    // the fires' writes are refused, not the load at start (it reads through a cursor, in a transaction)
    let started = false;
    const flaky = {
      ...env.db,
      transaction: <T>(work: Parameters<typeof env.db.transaction<T>>[0]) => {
        if (started && refusals < 2) {
          refusals += 1;
          return Promise.reject(new Error('connection terminated unexpectedly'));
        }
        return env.db.transaction(work);
      },
    };
    const dispatcher = new Dispatcher({ ...env.ctx, db: flaky }, { syncIntervalMs: 60_000, maxBatch: 1 });
    await dispatcher.start();
    started = true;
    await new Promise((resolve) => setTimeout(resolve, 5500));
    await dispatcher.stop();
    assert.equal(refusals, 2, 'the outage happened');
    for (const task of tasks) {
      const runs = await runsOf(env.db, task.id);
      const slots = runs.map((r) => r.scheduled_time.getTime());
      assert.equal(new Set(slots).size, slots.length, `${task.name}: no slot twice`);
      assert.ok(runs.length >= 4, `${task.name} fired ${runs.length} times in 5.5 s despite two refused writes`);
      // with catchUp All, no slot between the first and the last is lost
      const sorted = [...slots].sort((a, b) => a - b);
      for (let i = 1; i < sorted.length; i++) assert.equal((sorted[i] as number) - (sorted[i - 1] as number), 1000, `${task.name}: consecutive slots`);
    }
  });

  it('runs an on-demand dependant once all its dependencies\' latest runs succeeded', async () => {
    const extract = await noop('extract', { pool: 'deps' });
    const load = await noop('load', { pool: 'deps' });
    const report = await noop('report', { pool: 'deps', dependsOn: ['extract', 'load'] });
    const finish = async (taskId: string, status: 'succeeded' | 'failed') => {
      const run = await triggerTask(env.ctx, taskId);
      await finishAttempts(env.ctx, [{ runId: run.id, attempt: 1, status, at: new Date() }]);
    };
    await finish(extract.id, 'succeeded');
    assert.equal((await runsOf(env.db, report.id)).length, 0, 'load has not run yet');
    await finish(load.id, 'failed');
    assert.equal((await runsOf(env.db, report.id)).length, 0, 'load failed');
    await finish(load.id, 'succeeded');
    const runs = await runsOf(env.db, report.id);
    assert.equal(runs.length, 1, 'both succeeded: one dependency run');
    assert.equal(runs[0]?.trigger, 'dependency');
  });

  it('stores what it can of a poisoned status batch: NUL output, a log for an unknown run, a bad run id', async () => {
    const task = await noop('poisoned', { pool: 'poison' });
    const run = await triggerTask(env.ctx, task.id);
    const at = new Date().toISOString();
    await applyStatusEvents(env.ctx, [
      { kind: 'log', runId: '999999999', attempt: 1, seq: 0, stream: 'stdout', chunk: 'orphan' },
      { kind: 'log', runId: run.id, attempt: 1, seq: 0, stream: 'stdout', chunk: 'a\u0000b' },
      { kind: 'finished', runId: 'not-a-run', attempt: 1, workerId: 'w', at, status: 'succeeded' },
      { kind: 'finished', runId: run.id, attempt: 1, workerId: 'w', at, status: 'succeeded', exitCode: 0, output: 'bin\u0000ary' },
    ]);
    const stored = await getRun(env.db, run.id);
    assert.equal(stored.status, 'succeeded');
    assert.equal(stored.output, 'bin\u2400ary');
    const { rows } = await env.db.query<{ chunk: string }>('SELECT chunk FROM hg_run_logs WHERE run_id = $1', [run.id]);
    assert.deepEqual(rows.map((r) => r.chunk), ['a\u2400b']);
  });

  it('under Replace, a slot planned again does not cancel its own run', async () => {
    const task = await noop('replace-replay', { pool: 'replace', schedule: '@every 1s', concurrencyPolicy: 'Replace', catchUp: 'Latest' });
    const slot = Math.floor(Date.now() / 1000) * 1000;
    const older = await createRuns(env.ctx, [{ task, scheduledTime: new Date(slot - 1000), trigger: 'schedule' }]);
    const [own] = await createRuns(env.ctx, [{ task, scheduledTime: new Date(slot), trigger: 'schedule' }]);
    // the write of `slot` committed but its dispatcher never learnt it: the next one plans `slot` again
    await env.db.query('UPDATE hg_tasks SET last_scheduled_time = $2, schedule_anchor = $3 WHERE id = $1', [task.id, new Date(slot - 1000), new Date(slot - 60_000)]);
    env.clock.ms = slot + 200;
    const dispatcher = new Dispatcher(env.ctx, { syncIntervalMs: 60_000, maxBatch: 100 });
    await dispatcher.start();
    await new Promise((resolve) => setTimeout(resolve, 300));
    await dispatcher.stop();
    env.clock.ms = undefined;
    const runs = new Map((await runsOf(env.db, task.id)).map((r) => [r.id, r]));
    assert.equal(runs.get(own?.id as string)?.status, 'queued', 'its own run survives');
    assert.equal(runs.get(older[0]?.id as string)?.status, 'cancelled', 'the older run is replaced');
  });

  it('starts a new or changed schedule afresh: no catch-up of fires from before the change', async () => {
    const task = await noop('rescheduled', { pool: 'resched' });
    // an on-demand task made long ago, then given a schedule
    await env.db.query(`UPDATE hg_tasks SET created_at = now() - interval '1 day', schedule_anchor = now() - interval '1 day' WHERE id = $1`, [task.id]);
    await replaceTaskFromInput(env.ctx, task.id, { name: 'rescheduled', type: 'noop', params: {}, pool: 'resched', schedule: '@every 1s', catchUp: 'All' });
    const changedAt = Date.now();
    const dispatcher = new Dispatcher(env.ctx, { syncIntervalMs: 60_000, maxBatch: 1000 });
    await dispatcher.start();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await dispatcher.stop();
    const runs = await runsOf(env.db, task.id);
    assert.ok(runs.length >= 1 && runs.length <= 2, `${runs.length} runs`);
    assert.ok(runs.every((r) => r.scheduled_time.getTime() > changedAt - 1000 && r.status !== 'missed'), 'nothing from the day before');
  });

  it('judges a sharded dependency by all its shards', async () => {
    const fanout = await noop('fanout', { pool: 'deps', shards: 3 });
    const merge = await noop('merge', { pool: 'deps', dependsOn: ['fanout'] });
    await triggerTask(env.ctx, fanout.id);
    const shards = (await runsOf(env.db, fanout.id)).map((r) => r.id);
    assert.equal(shards.length, 3);
    const finish = (id: string, status: 'succeeded' | 'failed') => finishAttempts(env.ctx, [{ runId: id, attempt: 1, status, at: new Date() }]);
    await finish(shards[0] as string, 'succeeded');
    assert.equal((await runsOf(env.db, merge.id)).length, 0, 'two shards still running');
    await finish(shards[1] as string, 'failed');
    await finish(shards[2] as string, 'succeeded');
    assert.equal((await runsOf(env.db, merge.id)).length, 0, 'one shard failed');
    await triggerTask(env.ctx, fanout.id);
    for (const run of (await runsOf(env.db, fanout.id)).filter((r) => r.status === 'queued')) await finish(run.id, 'succeeded');
    assert.equal((await runsOf(env.db, merge.id)).length, 1, 'the next fire succeeded on every shard');
  });

  it('fires a suspended task again once it is resumed, and an edited one keeps firing', async () => {
    const task = await noop('resumable', { pool: 'resume', schedule: '@every 1s', catchUp: 'None' });
    const body = { name: 'resumable', type: 'noop', params: {}, pool: 'resume', schedule: '@every 1s', catchUp: 'None' };
    const dispatcher = new Dispatcher(env.ctx, { syncIntervalMs: 60_000, maxBatch: 100 });
    await dispatcher.start();
    await new Promise((resolve) => setTimeout(resolve, 1200));
    await replaceTaskFromInput(env.ctx, task.id, { ...body, suspend: true });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const whileSuspended = (await runsOf(env.db, task.id)).length;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal((await runsOf(env.db, task.id)).length, whileSuspended, 'no fire while suspended');
    await replaceTaskFromInput(env.ctx, task.id, { ...body, suspend: false });
    await replaceTaskFromInput(env.ctx, task.id, { ...body, priority: 5 }); // an edit that keeps the schedule
    await new Promise((resolve) => setTimeout(resolve, 2500));
    await dispatcher.stop();
    assert.ok((await runsOf(env.db, task.id)).length >= whileSuspended + 2, 'fires again after resume and edit');
  });

  it('tells a worker that comes back from the dead to stop an attempt already failed and retried', async () => {
    const task = await noop('lazarus', { pool: 'lazarus' });
    const run = await triggerTask(env.ctx, task.id);
    await decideClaims(env.ctx, [{ runId: run.id, attempt: 1, workerId: 'lazarus-w' }]);
    await finishAttempts(env.ctx, [{ runId: run.id, attempt: 1, status: 'failed', at: new Date(), error: 'worker lazarus-w declared dead', byCore: true }]);
    const consumer = postgresConsumer(env.ctx, 'lazarus-w');
    const cancelled: string[] = [];
    const sub = await consumer.onCancel((ids) => cancelled.push(...ids));
    await applyStatusEvents(env.ctx, [{ kind: 'heartbeat', workerId: 'lazarus-w', pool: 'lazarus', taskTypes: ['noop'], concurrency: 1, activeRuns: 1, status: 'ALIVE', hostname: 'h', version: 't', startedAt: new Date().toISOString(), at: new Date().toISOString(), held: [`${run.id}/1`] }]);
    const deadline = Date.now() + 3000;
    while (cancelled.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    await sub.close();
    await consumer.close();
    assert.deepEqual(cancelled, [`${run.id}/1`], 'that attempt only: its retry may run elsewhere');
  });

  it('does not cancel an attempt a late heartbeat lists after the worker\'s own outcome settled it', async () => {
    const task = await noop('late-beat', { pool: 'late-beat' });
    const run = await triggerTask(env.ctx, task.id);
    await decideClaims(env.ctx, [{ runId: run.id, attempt: 1, workerId: 'late-w' }]);
    const told: string[] = [];
    const ctx = { ...env.ctx, queue: { ...env.ctx.queue, publishCancel: async (targets: Array<{ runId: string; attempt: number }>) => void told.push(...targets.map((t) => `${t.runId}/${t.attempt}`)) } };
    const beat = { kind: 'heartbeat' as const, workerId: 'late-w', pool: 'late-beat', taskTypes: ['noop'], concurrency: 1, activeRuns: 1, status: 'ALIVE' as const, hostname: 'h', version: 't', startedAt: new Date().toISOString(), held: [`${run.id}/1`] };
    await applyStatusEvents(ctx, [{ kind: 'finished', runId: run.id, attempt: 1, workerId: 'late-w', at: new Date().toISOString(), status: 'succeeded', output: '' }]);
    // built before the outcome was delivered, applied after it (heartbeats travel on their own lane)
    await applyStatusEvents(ctx, [{ ...beat, at: new Date().toISOString() }]);
    assert.deepEqual(told, [], 'the worker settled it itself: nothing to stop');
  });

  it('never hands out a run cancelled while it waited in the postgres queue', async () => {
    const task = await noop('cancelled-waiting', { pool: 'cancelled' });
    const doomed = await triggerTask(env.ctx, task.id);
    const kept = await triggerTask(env.ctx, task.id);
    assert.deepEqual((await cancelRuns(env.db, [doomed.id], 'no longer wanted')).map((t) => t.runId), [doomed.id]);
    const consumer = postgresConsumer(env.ctx, 'canceller');
    const got = await consumer.receive('cancelled', { max: 10, waitMs: 0 });
    await consumer.close();
    assert.deepEqual(got.map((d) => d.message.runId), [kept.id]);
  });

  it('refuses a dependency on itself and a dependency cycle, naming dependsOn', async () => {
    await assert.rejects(noop('self-loop', { dependsOn: ['self-loop'] }), /dependsOn: a task cannot depend on itself/);
    await noop('cycle-a');
    await noop('cycle-b', { dependsOn: ['cycle-a'] });
    await assert.rejects(
      replaceTaskFromInput(env.ctx, 'cycle-a', { name: 'cycle-a', type: 'noop', params: {}, dependsOn: ['cycle-b'] }),
      /dependsOn: creates a cycle: cycle-a -> cycle-b/,
    );
  });
});
