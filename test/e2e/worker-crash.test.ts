import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { SERVICE_URLS, skipUnless, uniqueNamespace } from '../support/services.ts';
import {
  backendEnv, startAllInOne, startProcess, tracked, useE2eWorld, waitFor, writeTestConfig,
  type Api, type Backend, type Json, type FailureFlag,
} from '../support/processes.ts';

const BACKENDS: { backend: Backend; services: Parameters<typeof skipUnless> }[] = [
  { backend: 'postgres', services: ['postgres'] },
  { backend: 'redis_stream', services: ['postgres', 'redis'] },
  { backend: 'rabbitmq', services: ['postgres', 'rabbitmq'] },
];
const WORKER_TIMEOUT_SECONDS = 3; // writeTestConfig

for (const { backend, services } of BACKENDS) {
  describe(`a crashed worker's run is failed and retried on another worker (${backend})`, { skip: await skipUnless(...services) }, () => {
    const flag: FailureFlag = { failed: false };
    let client: Api;
    let configFile: string;
    let env: Record<string, string | undefined>;
    let pidFile: string | undefined;
    // the task processes outlive a SIGKILLed worker (own process group): clean them up too
    const world = useE2eWorld(flag, {
      cleanup: () => {
        if (!pidFile || !existsSync(pidFile)) return;
        // pid 1 or less is never a task of ours (inside its own PID namespace a task sees itself as 1), and
        // kill(-1) would signal every process on the machine
        for (const pid of readFileSync(pidFile, 'utf8').split('\n').filter(Boolean).map(Number).filter((pid) => Number.isInteger(pid) && pid > 1)) {
          try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ }
          try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
        }
      },
    });

    before(tracked(flag, async () => {
      pidFile = path.join(world.tmp.dir, 'task.pids');
      configFile = writeTestConfig(world.tmp.dir, uniqueNamespace('crash'), { workerEnabled: false });
      env = backendEnv(backend, world.db.url, SERVICE_URLS);
      // API + dispatcher, no worker (worker.enabled = false)
      const { proc: core, client: coreClient } = await startAllInOne(world, backend, configFile, `core-${backend}`);
      await core.waitForLine(/became the dispatcher leader/, 10_000);
      client = coreClient;
    }));

    it('kill -9 of w1: attempt 1 failed as declared dead, attempt 2 running on w2', tracked(flag, async () => {
      const w1 = startProcess({ name: 'w1', args: ['--mode', 'worker', '--worker-id', 'w1', '--config', configFile], env });
      await w1.waitForLine(/worker started/, 15_000);

      const created = await client.post('/api/tasks', {
        name: 'long-job',
        type: 'shell',
        shell: { command: ['sh', '-c', `echo $$ >> '${pidFile}'; exec sleep 20`] },
        retry: { limit: 1, backoff: { initialSeconds: 1, factor: 2, maxSeconds: 10, jitter: 0 } },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const taskId = created.body.id as string;
      const triggered = await client.post(`/api/tasks/${taskId}/trigger`);
      assert.equal(triggered.status, 201, JSON.stringify(triggered.body));
      const runId = triggered.body.id as string;

      await waitFor(async () => {
        const res = await client.get(`/api/task-runs/${runId}`);
        return res.body.status === 'running' && res.body.workerId === 'w1';
      }, 10_000, 100, 'attempt 1 running on w1');

      w1.kill('SIGKILL');
      const killedAt = Date.now();
      await w1.waitForExit(5000);
      const w2 = startProcess({ name: 'w2', args: ['--mode', 'worker', '--worker-id', 'w2', '--config', configFile], env });
      await w2.waitForLine(/worker started/, 15_000);

      const runs = await waitFor(async () => {
        const res = await client.get(`/api/tasks/${taskId}/runs?limit=10`);
        const items = (res.body.items as Json[]).toSorted((a, b) => a.attempt - b.attempt);
        return items.length === 2 && items[0].status === 'failed' && items[1].status === 'running' ? items : undefined;
      }, (WORKER_TIMEOUT_SECONDS + 7) * 1000, 200, 'attempt 1 failed and attempt 2 running');
      const elapsed = Date.now() - killedAt;

      const [first, second] = runs;
      assert.equal(first.attempt, 1);
      assert.equal(first.workerId, 'w1');
      assert.match(first.error ?? '', /worker w1 declared dead/, first.error);
      assert.equal(second.attempt, 2);
      assert.equal(second.trigger, 'retry');
      assert.equal(second.workerId, 'w2', JSON.stringify(second));
      assert.ok(elapsed >= (WORKER_TIMEOUT_SECONDS - 1) * 1000, `declared dead only ${elapsed} ms after the kill`);

      const { rows: stuck } = await world.sql.query(`SELECT id FROM hg_runs WHERE status = 'running' AND worker_id = 'w1'`);
      assert.deepEqual(stuck, [], 'a run is still running on the dead worker');
      const { rows: workers } = await world.sql.query(`SELECT id, status FROM hg_workers ORDER BY id`);
      if (backend === 'postgres') {
        assert.deepEqual(workers, [{ id: 'w1', status: 'DOWN' }, { id: 'w2', status: 'ALIVE' }]);
      } else {
        assert.ok(workers.some((w) => w.id === 'w1' && w.status === 'DOWN'), JSON.stringify(workers));
      }
    }));
  });
}
