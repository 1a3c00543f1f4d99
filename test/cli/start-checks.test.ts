import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { createTestDatabase, skipUnless, SERVICE_URLS, uniqueNamespace } from '../support/services.ts';
import { backendEnv, freePort, startProcess, tracked, useE2eWorld, writeTestConfig, type FailureFlag } from '../support/processes.ts';
import { cliFor, runBin, SCHEDULER_BIN, show } from './cli-support.ts';

/** What each mode says and does as it starts: the first thing a newcomer reads. */
describe('service start-up: broker check, start lines, a degraded health answer', { skip: await skipUnless('postgres', 'redis') }, () => {
  const flag: FailureFlag = { failed: false };
  const world = useE2eWorld(flag);
  const config = () => writeTestConfig(world.tmp.dir, randomBytes(4).toString('hex'));

  it('an API whose broker does not answer refuses to start: exit 5 naming the broker address, within its connection timeout', tracked(flag, async () => {
    const dead = await freePort();
    const fast = path.join(world.tmp.dir, 'fast-broker-timeout.toml');
    writeFileSync(fast, '[message_queue.redis]\nconnection_timeout_seconds = 2\n');
    const started = Date.now();
    const result = await runBin(SCHEDULER_BIN, ['--mode', 'api', '--config', fast], {
      env: { ...backendEnv('redis_stream', world.db.url, SERVICE_URLS), MESSAGE_QUEUE_URL: `redis://127.0.0.1:${dead}/0`, API_BIND_ADDRESS: '127.0.0.1:0' },
    });
    assert.equal(result.code, 5, show(result));
    assert.match(result.stderr, new RegExp(`^scheduler: cannot use the message broker \\(redis_stream at 127\\.0\\.0\\.1:${dead}\\): `, 'm'));
    assert.ok(Date.now() - started < 20_000, `took ${Date.now() - started} ms`);
  }));

  it('a dispatcher warns about no API auth it does not serve; a broker worker says it opens no database', tracked(flag, async () => {
    const env = { ...backendEnv('redis_stream', world.db.url, SERVICE_URLS), METRICS_BIND_ADDRESS: '' };
    const dispatcher = startProcess({ name: 'dispatcher', args: ['--mode', 'dispatcher', '--config', config()], env });
    await dispatcher.waitForLine(/"msg":"dispatcher started"/, 30_000);
    const worker = startProcess({ name: 'worker', args: ['--mode', 'worker', '--config', config()], env: { ...env, DATABASE_URL: undefined } });
    const starting = JSON.parse(await worker.waitForLine(/"msg":"starting"/, 30_000)) as { database: string };
    assert.match(starting.database, /^none/);
    await worker.waitForLine(/"msg":"worker started"/, 30_000);
    for (const proc of [dispatcher, worker]) {
      assert.ok(!proc.lines.some((l) => /without authentication/.test(l)), `${proc.name} warned about API auth:\n${proc.lines.join('\n')}`);
      proc.kill('SIGTERM');
      await proc.waitForExit(30_000);
    }
  }));

  it('system health on an API with no dispatcher prints the 503 body that says why, and exits 1', tracked(flag, async () => {
    const port = await freePort();
    const api = startProcess({ name: 'api', args: ['--mode', 'api', '--config', config()], env: { ...backendEnv('postgres', world.db.url, SERVICE_URLS), API_BIND_ADDRESS: `127.0.0.1:${port}` } });
    await api.waitForLine(/API listening/, 30_000);
    const result = await cliFor(`http://127.0.0.1:${port}`)(['system', 'health']);
    assert.equal(result.code, 1, show(result));
    assert.match(result.stdout, /no dispatcher holds the leadership/);
    assert.match(result.stdout, /^status: +degraded$/m);
    assert.doesNotMatch(result.stdout, /\{"/, 'nested objects are indented lines, not one-line JSON');
    api.kill('SIGTERM');
    await api.waitForExit(30_000);
  }));

  it('two installations on one Redis namespace: the second refuses to start (exit 5) naming MESSAGE_QUEUE_NAMESPACE; its own namespace works', tracked(flag, async () => {
    const other = await createTestDatabase();
    try {
      const namespace = uniqueNamespace('hgclaim');
      const shared = config();
      const env = { ...backendEnv('redis_stream', world.db.url, SERVICE_URLS), MESSAGE_QUEUE_NAMESPACE: namespace, METRICS_BIND_ADDRESS: '' };
      const first = startProcess({ name: 'install-a', args: ['--mode', 'dispatcher', '--config', shared], env });
      await first.waitForLine(/"msg":"dispatcher started"/, 30_000);
      const refused = await runBin(SCHEDULER_BIN, ['--mode', 'dispatcher', '--config', shared], { env: { ...env, DATABASE_URL: other.url } });
      assert.equal(refused.code, 5, show(refused));
      assert.match(refused.stderr, new RegExp(`Redis namespace "${namespace}" .*belongs to another installation.*MESSAGE_QUEUE_NAMESPACE`));
      // a second process of the same installation shares the namespace as before
      const standby = startProcess({ name: 'install-a-standby', args: ['--mode', 'dispatcher', '--config', shared], env });
      await standby.waitForLine(/"msg":"starting"/, 30_000);
      const apart = startProcess({ name: 'install-b', args: ['--mode', 'dispatcher', '--config', shared], env: { ...env, DATABASE_URL: other.url, MESSAGE_QUEUE_NAMESPACE: `${namespace}-b` } });
      await apart.waitForLine(/"msg":"dispatcher started"/, 30_000);
      for (const proc of [apart, standby, first]) {
        proc.kill('SIGTERM');
        assert.deepEqual(await proc.waitForExit(30_000), { code: 0, signal: null }, proc.name);
      }
      // a cleanly stopped installation releases its claim
      const after = startProcess({ name: 'install-b-again', args: ['--mode', 'dispatcher', '--config', shared], env: { ...env, DATABASE_URL: other.url } });
      await after.waitForLine(/"msg":"dispatcher started"/, 30_000);
      after.kill('SIGTERM');
      await after.waitForExit(30_000);
    } finally {
      await other.drop();
    }
  }));
});
