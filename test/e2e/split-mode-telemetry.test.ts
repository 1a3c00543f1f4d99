import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { SERVICE_URLS, skipUnless, uniqueNamespace } from '../support/services.ts';
import {
  backendEnv, freePort, startAllInOne, startProcess, tracked, useE2eWorld, waitFor, writeTestConfig,
  type Api, type FailureFlag,
} from '../support/processes.ts';

/**
 * The guide's Prometheus jobs scrape dispatcher:8080 and worker-N:8080 as well as the API. In a split
 * deployment those processes serve no API, so each answers /health, /ready and /metrics on its own port;
 * and a worker on a broker starts with no database credentials at all, as the architecture promises.
 */
describe('split deployment: dispatcher and worker metrics, a worker without database credentials (rabbitmq)', { skip: await skipUnless('postgres', 'rabbitmq') }, () => {
  const flag: FailureFlag = { failed: false };
  const world = useE2eWorld(flag);
  let client: Api;
  let configFile: string;

  before(tracked(flag, async () => {
    configFile = writeTestConfig(world.tmp.dir, uniqueNamespace('split'), { workerEnabled: false });
    ({ client } = await startAllInOne(world, 'rabbitmq', configFile, 'api-and-dispatcher'));
  }));

  it('a worker with only the broker URL serves /health and /metrics, and its executions are counted there', tracked(flag, async () => {
    const port = await freePort();
    const env = { ...backendEnv('rabbitmq', world.db.url, SERVICE_URLS), DATABASE_URL: undefined, METRICS_BIND_ADDRESS: `127.0.0.1:${port}` };
    const worker = startProcess({ name: 'worker', args: ['--mode', 'worker', '--worker-id', 'metrics-w1', '--config', configFile], env });
    await worker.waitForLine(/health and metrics listening/, 15_000);
    await worker.waitForLine(/worker started/, 15_000);

    const health = await fetch(`http://127.0.0.1:${port}/health`);
    assert.equal(health.status, 200);
    const ready = await fetch(`http://127.0.0.1:${port}/ready`);
    assert.equal(ready.status, 200);
    assert.equal(((await ready.json()) as { mode: string }).mode, 'worker');

    const created = await client.post('/api/tasks', { name: 'counted', type: 'shell', shell: { command: ['true'] } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const run = await client.post(`/api/tasks/${created.body.id}/trigger`);
    assert.equal(run.status, 201, JSON.stringify(run.body));
    await waitFor(async () => (await client.get(`/api/task-runs/${run.body.id}`)).body.status === 'succeeded', 15_000, 100, 'the run succeeded');

    const text = await waitFor(async () => {
      const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return /tasks_executed_total\{task_type="shell",status="succeeded"\} 1\b/.test(body) ? body : undefined;
    }, 10_000, 200, 'the worker counted the execution');
    assert.match(text, /^# TYPE schedule_lag_seconds histogram$/m);
    assert.match(text, /^process_resident_memory_bytes \d+/m);
  }));

  it('a dispatcher serves its leadership on its own port', tracked(flag, async () => {
    const port = await freePort();
    const env = { ...backendEnv('rabbitmq', world.db.url, SERVICE_URLS), METRICS_BIND_ADDRESS: `127.0.0.1:${port}` };
    const dispatcher = startProcess({ name: 'standby-dispatcher', args: ['--mode', 'dispatcher', '--config', configFile], env });
    await dispatcher.waitForLine(/health and metrics listening/, 15_000);
    const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    // the all-in-one process leads; this one stands by
    assert.match(body, /^hourglass_dispatcher_leader 0$/m);
    const ready = (await (await fetch(`http://127.0.0.1:${port}/ready`)).json()) as { leader: boolean };
    assert.equal(ready.leader, false);
  }));

  it('a port already taken is a clear startup error, not a crash', tracked(flag, async () => {
    const port = await freePort();
    const first = startProcess({ name: 'holder', args: ['--mode', 'dispatcher', '--config', configFile], env: { ...backendEnv('rabbitmq', world.db.url, SERVICE_URLS), METRICS_BIND_ADDRESS: `127.0.0.1:${port}` } });
    await first.waitForLine(/health and metrics listening/, 15_000);
    const second = startProcess({ name: 'clash', args: ['--mode', 'dispatcher', '--config', configFile], env: { ...backendEnv('rabbitmq', world.db.url, SERVICE_URLS), METRICS_BIND_ADDRESS: `127.0.0.1:${port}` } });
    const line = await second.waitForLine(/observability\.metrics_bind_address/, 15_000);
    assert.match(line, /EADDRINUSE/);
    const exit = await second.waitForExit(10_000);
    assert.notEqual(exit.code, 0);
  }));
});
