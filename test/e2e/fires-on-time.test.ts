import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { skipUnless, uniqueNamespace } from '../support/services.ts';
import { sleep, startAllInOne, tracked, useE2eWorld, waitFor, writeTestConfig, type Api, type Backend, type Json, type FailureFlag, type Proc } from '../support/processes.ts';

const BACKENDS: { backend: Backend; services: Parameters<typeof skipUnless> }[] = [
  { backend: 'postgres', services: ['postgres'] },
  { backend: 'redis_stream', services: ['postgres', 'redis'] },
  { backend: 'rabbitmq', services: ['postgres', 'rabbitmq'] },
];

for (const { backend, services } of BACKENDS) {
  describe(`an @every 1s task fires on time (${backend})`, { skip: await skipUnless(...services) }, () => {
    const flag: FailureFlag = { failed: false };
    const world = useE2eWorld(flag);
    let proc: Proc;
    let client: Api;

    before(tracked(flag, async () => {
      ({ proc, client } = await startAllInOne(world, backend, writeTestConfig(world.tmp.dir, uniqueNamespace('fire'))));
    }));

    it('runs every second with low lag, one run per slot, and stops cleanly on SIGTERM', tracked(flag, async () => {
      const created = await client.post('/api/tasks', {
        name: 'ticker',
        type: 'shell',
        shell: { command: ['sh', '-c', 'echo tick'] },
        schedule: '@every 1s',
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const taskId = created.body.id as string;

      await sleep(5000);
      const runs = await waitFor(async () => {
        const res = await client.get(`/api/tasks/${taskId}/runs?limit=100&status=succeeded`);
        assert.equal(res.status, 200);
        return res.body.items.length >= 3 ? (res.body.items as Json[]) : undefined;
      }, 5000, 250, 'at least 3 succeeded runs');
      assert.ok(runs.length >= 3, `only ${runs.length} succeeded runs`);

      const seconds = new Set<number>();
      for (const run of runs) {
        assert.equal(run.output, null, 'lists leave output out');
        const one = await client.get(`/api/task-runs/${run.id}`);
        assert.equal(one.body.output, 'tick\n', `run ${run.id} output`);
        assert.equal(run.attempt, 1);
        assert.equal(run.trigger, 'schedule');
        const scheduled = Date.parse(run.scheduledTime);
        const started = Date.parse(run.startedAt);
        assert.equal(scheduled % 1000, 0, `scheduled time ${run.scheduledTime} is not a whole second`);
        const lag = started - scheduled;
        assert.ok(lag >= -50 && lag < 1500, `run ${run.id} scheduled ${run.scheduledTime} started ${run.startedAt}: lag ${lag} ms`);
        assert.ok(!seconds.has(scheduled), `two succeeded runs for ${run.scheduledTime}`);
        seconds.add(scheduled);
      }

      const { rows: dupes } = await world.sql.query(
        `SELECT task_id, scheduled_time, shard, count(*)::int AS n FROM hg_runs GROUP BY 1, 2, 3 HAVING count(*) > 1`,
      );
      assert.deepEqual(dupes, [], 'a slot has more than one run');
      const { rows: bad } = await world.sql.query(`SELECT id, status, error FROM hg_runs WHERE status NOT IN ('succeeded', 'queued', 'running', 'pending')`);
      assert.deepEqual(bad, [], 'runs that did not succeed');

      proc.kill('SIGTERM');
      const exit = await proc.waitForExit(15_000);
      assert.deepEqual(exit, { code: 0, signal: null }, 'exit after SIGTERM');
    }));
  });
}
