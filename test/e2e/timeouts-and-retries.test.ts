import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { skipUnless, uniqueNamespace } from '../support/services.ts';
import {
  sleep, startAllInOne, tracked, useE2eWorld, waitFor, writeTestConfig, type Api, type Backend, type Json, type FailureFlag,
} from '../support/processes.ts';

const BACKENDS: { backend: Backend; services: Parameters<typeof skipUnless> }[] = [
  { backend: 'postgres', services: ['postgres'] },
  { backend: 'redis_stream', services: ['postgres', 'redis'] },
  { backend: 'rabbitmq', services: ['postgres', 'rabbitmq'] },
];

/**
 * Host pids whose command line has this argument. A shell task runs in a PID namespace of its own (as root,
 * the default: docs/task-isolation.md), where the pids it sees mean nothing on the host: processes are
 * found by a marker in their arguments instead.
 */
function hostPidsWithArg(marker: string): number[] {
  return readdirSync('/proc').filter((entry) => /^\d+$/.test(entry)).filter((entry) => {
    try {
      return readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').includes(marker);
    } catch {
      return false;
    }
  }).map(Number);
}

const TERMINAL = new Set(['succeeded', 'failed', 'timed_out', 'cancelled', 'missed', 'skipped']);

for (const { backend, services } of BACKENDS) {
  describe(`timeouts and retries (${backend})`, { skip: await skipUnless(...services) }, () => {
    const flag: FailureFlag = { failed: false };
    const world = useE2eWorld(flag);
    let client: Api;

    before(tracked(flag, async () => {
      ({ client } = await startAllInOne(world, backend, writeTestConfig(world.tmp.dir, uniqueNamespace('retry'))));
    }));

    it('a run over timeoutSeconds ends timed_out and its whole process group is killed', tracked(flag, async () => {
      // a background child in a session of its own: setsid must not let it outlive the timeout either
      const marker = `30.${process.pid}${Math.floor(Math.random() * 1e6)}`;
      const created = await client.post('/api/tasks', {
        name: 'too-slow',
        type: 'shell',
        shell: { command: ['sh', '-c', `sleep ${marker} & setsid sleep ${marker} & sleep 30`] },
        timeoutSeconds: 1,
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const triggered = await client.post(`/api/tasks/${created.body.id}/trigger`);
      assert.equal(triggered.status, 201, JSON.stringify(triggered.body));
      assert.equal(triggered.body.trigger, 'manual');
      const t0 = Date.now();
      await waitFor(() => hostPidsWithArg(marker).length >= 2, 5000, 50, 'the background sleeps to start');
      const run = await waitFor(async () => {
        const res = await client.get(`/api/task-runs/${triggered.body.id}`);
        return TERMINAL.has(res.body.status) ? res.body : undefined;
      }, 10_000, 200, 'the run to end');
      assert.equal(run.status, 'timed_out', JSON.stringify(run));
      assert.match(run.error ?? '', /timed out/i);
      assert.ok(Date.now() - t0 < 10_000);
      const duration = Date.parse(run.finishedAt) - Date.parse(run.startedAt);
      assert.ok(duration >= 900 && duration < 8000, `ran ${duration} ms with timeoutSeconds 1`);
      await waitFor(() => hostPidsWithArg(marker).length === 0, 3000, 100, `the background sleeps (${hostPidsWithArg(marker).join(', ')}) to be gone`);
      // timed_out is retryable but the default retry limit is 0: no second attempt
      await sleep(1000);
      const { rows } = await world.sql.query('SELECT attempt FROM hg_runs WHERE task_id = $1', [created.body.id]);
      assert.deepEqual(rows, [{ attempt: 1 }]);
    }));

    const runTask = async (body: Json): Promise<{ taskId: string; runId: string }> => {
      const created = await client.post('/api/tasks', body);
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const triggered = await client.post(`/api/tasks/${created.body.id}/trigger`);
      assert.equal(triggered.status, 201, JSON.stringify(triggered.body));
      return { taskId: created.body.id, runId: triggered.body.id };
    };
    const finishedRun = (runId: string): Promise<Json> =>
      waitFor(async () => {
        const res = await client.get(`/api/task-runs/${runId}`);
        return TERMINAL.has(res.body.status) ? res.body : undefined;
      }, 15_000, 100, `run ${runId} to end`);

    it('a cancelled run keeps what it printed (issue 18 item 2)', tracked(flag, async () => {
      const { runId } = await runTask({ name: 'cancel-me', type: 'shell', shell: { command: ['sh', '-c', 'echo before-cancel; sleep 30'] } });
      await waitFor(async () => {
        const res = await client.get(`/api/task-runs/${runId}/logs`);
        return (res.body.items as Json[]).some((item) => String(item.chunk).includes('before-cancel')) || undefined;
      }, 10_000, 100, 'the first line in the live log');
      const cancelled = await client.post(`/api/task-runs/${runId}/cancel`);
      assert.equal(cancelled.status, 200, JSON.stringify(cancelled.body));
      const run = await waitFor(async () => {
        const res = await client.get(`/api/task-runs/${runId}`);
        return res.body.output ? res.body : undefined;
      }, 10_000, 100, 'the worker\'s report to bring the output');
      assert.equal(run.status, 'cancelled');
      assert.match(run.output, /^before-cancel$/m);
    }));

    it('live logs hold every line the output holds, stamped when printed (issue 18 items 1, 19)', tracked(flag, async () => {
      const { runId } = await runTask({
        name: 'forty-lines', type: 'shell',
        shell: { command: ['sh', '-c', 'i=1; while [ $i -le 40 ]; do echo "line $i"; i=$((i+1)); sleep 0.05; done'] },
      });
      const run = await finishedRun(runId);
      assert.equal(run.status, 'succeeded', JSON.stringify(run));
      const logs = await waitFor(async () => {
        const res = await client.get(`/api/task-runs/${runId}/logs?limit=1000`);
        const text = (res.body.items as Json[]).map((item) => item.chunk).join('');
        return text === run.output ? (res.body.items as Json[]) : undefined;
      }, 5000, 100, 'the log to hold the whole output');
      assert.match(logs.map((item) => item.chunk).join(''), /line 40\n$/);
      const first = Date.parse(logs[0].at);
      const last = Date.parse(logs.at(-1).at);
      assert.ok(last - first >= 1500, `40 lines 50 ms apart were stamped ${last - first} ms apart`);
    }));

    it('a run that cannot run fails once, not retry.limit times (issue 12 §3)', tracked(flag, async () => {
      const { taskId, runId } = await runTask({ name: 'bad-params', type: 'noop', params: { sleepMs: 'soon' }, retry: { limit: 2, backoff: { initialSeconds: 1, factor: 1, maxSeconds: 1, jitter: 0 } } });
      const run = await finishedRun(runId);
      assert.equal(run.status, 'failed');
      assert.match(run.error, /params\.sleepMs/);
      await sleep(2000); // a retry would come after 1 s
      const { rows } = await world.sql.query('SELECT attempt FROM hg_runs WHERE task_id = $1', [taskId]);
      assert.deepEqual(rows, [{ attempt: 1 }]);
    }));

    it('a failing run is retried exactly retry.limit times with backoff', tracked(flag, async () => {
      const created = await client.post('/api/tasks', {
        name: 'always-fails',
        type: 'shell',
        shell: { command: ['sh', '-c', 'exit 3'] },
        retry: { limit: 2, backoff: { initialSeconds: 1, factor: 2, maxSeconds: 10, jitter: 0 } },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const taskId = created.body.id as string;
      const triggered = await client.post(`/api/tasks/${taskId}/trigger`);
      assert.equal(triggered.status, 201, JSON.stringify(triggered.body));

      const listRuns = async () => {
        const res = await client.get(`/api/tasks/${taskId}/runs?limit=50`);
        assert.equal(res.status, 200);
        return (res.body.items as Json[]).toSorted((a, b) => a.attempt - b.attempt);
      };
      const runs = await waitFor(async () => {
        const items = await listRuns();
        return items.length >= 3 && items.every((r) => TERMINAL.has(r.status)) ? items : undefined;
      }, 15_000, 200, 'three finished attempts');
      assert.deepEqual(runs.map((r) => r.attempt), [1, 2, 3]);
      assert.deepEqual(runs.map((r) => r.trigger), ['manual', 'retry', 'retry']);
      for (const run of runs) {
        assert.equal(run.status, 'failed', JSON.stringify(run));
        assert.equal(run.exitCode, 3, JSON.stringify(run));
        assert.match(run.error ?? '', /\b3\b/, `error names the exit code: ${run.error}`);
        assert.equal(run.scheduledTime, runs[0].scheduledTime, 'retries keep the slot');
      }
      const gap1 = Date.parse(runs[1].startedAt) - Date.parse(runs[0].finishedAt);
      const gap2 = Date.parse(runs[2].startedAt) - Date.parse(runs[1].finishedAt);
      assert.ok(gap1 >= 950, `attempt 2 started ${gap1} ms after attempt 1 ended (backoff 1 s)`);
      assert.ok(gap2 >= 1950, `attempt 3 started ${gap2} ms after attempt 2 ended (backoff 2 s)`);
      assert.ok(gap1 < 4000 && gap2 < 6000, `backoff too long: ${gap1} ms, ${gap2} ms`);

      await sleep(4500); // a 4th attempt would come after 4 s
      const { rows } = await world.sql.query('SELECT attempt, status FROM hg_runs WHERE task_id = $1 ORDER BY attempt', [taskId]);
      assert.deepEqual(rows, [{ attempt: 1, status: 'failed' }, { attempt: 2, status: 'failed' }, { attempt: 3, status: 'failed' }]);
    }));
  });
}
