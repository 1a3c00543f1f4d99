import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { SERVICE_URLS, createTestDatabase, skipUnless, uniqueNamespace } from '../support/services.ts';
import {
  api, backendEnv, dumpIfFailed, freePort, killAll, startProcess, tempDir, tracked, waitFor, writeTestConfig,
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
    let db: Awaited<ReturnType<typeof createTestDatabase>>;
    let sql: pg.Client;
    let tmp: ReturnType<typeof tempDir>;
    let client: Api;
    let configFile: string;
    let env: Record<string, string | undefined>;
    let pidFile: string;

    before(tracked(flag, async () => {
      db = await createTestDatabase();
      sql = new pg.Client({ connectionString: db.url });
      await sql.connect();
      tmp = tempDir();
      pidFile = path.join(tmp.dir, 'task.pids');
      configFile = writeTestConfig(tmp.dir, uniqueNamespace('crash'), { workerEnabled: false });
      env = backendEnv(backend, db.url, SERVICE_URLS);
      const port = await freePort();
      // API + dispatcher, no worker (worker.enabled = false)
      const core = startProcess({ name: `core-${backend}`, args: ['--mode', 'all', '--config', configFile], env: { ...env, API_BIND_ADDRESS: `127.0.0.1:${port}` } });
      await core.waitForLine(/API listening/, 20_000);
      await core.waitForLine(/became the dispatcher leader/, 10_000);
      client = api(`http://127.0.0.1:${port}`);
    }));

    after(async () => {
      dumpIfFailed(flag.failed);
      await killAll();
      // the task processes outlive a SIGKILLed worker (own process group): clean them up
      if (pidFile && existsSync(pidFile)) {
        for (const pid of readFileSync(pidFile, 'utf8').split('\n').filter(Boolean).map(Number)) {
          try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ }
          try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
        }
      }
      await sql?.end();
      await db?.drop();
      tmp?.remove();
    });

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

      const { rows: stuck } = await sql.query(`SELECT id FROM hg_runs WHERE status = 'running' AND worker_id = 'w1'`);
      assert.deepEqual(stuck, [], 'a run is still running on the dead worker');
      const { rows: workers } = await sql.query(`SELECT id, status FROM hg_workers ORDER BY id`);
      if (backend === 'postgres') {
        assert.deepEqual(workers, [{ id: 'w1', status: 'DOWN' }, { id: 'w2', status: 'ALIVE' }]);
      } else {
        assert.ok(workers.some((w) => w.id === 'w1' && w.status === 'DOWN'), JSON.stringify(workers));
      }
    }));
  });
}
