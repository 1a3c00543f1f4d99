/**
 * Issue 13, item 2: per-role, per-pool broker accounts. A worker logged in with its pool's Redis ACL user
 * does everything a worker does, and cannot read another pool's runs or other workers' status events.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { QueueNames, RunMessage, StatusEvent } from '../../core/queue/port.ts';
import { redisAclRules } from '../../core/queue/redis-stream/acl.ts';
import { createRedisStreamConsumer, createRedisStreamProducer } from '../../core/queue/redis-stream/index.ts';
import { SERVICE_URLS, skipUnless, uniqueNamespace } from '../support/services.ts';

function withUser(url: string, user: string, password: string): string {
  const u = new URL(url);
  u.username = user;
  u.password = password;
  return u.toString();
}

describe('redis_stream ACL accounts', { skip: await skipUnless('redis') }, () => {
  const names: QueueNames = { namespace: uniqueNamespace(), taskQueue: 'runs', statusQueue: 'status', heartbeatQueue: 'beats' };
  const suffix = randomBytes(4).toString('hex');
  const users = { core: `hg-core-${suffix}`, alpha: `hg-alpha-${suffix}` };
  const password = randomBytes(16).toString('hex');
  const admin = new Redis(SERVICE_URLS.redis, { protocol: 2, maxRetriesPerRequest: 2 });

  before(async () => {
    await admin.call('ACL', 'SETUSER', users.core, 'on', `>${password}`, ...redisAclRules(names, { kind: 'core' }));
    await admin.call('ACL', 'SETUSER', users.alpha, 'on', `>${password}`, ...redisAclRules(names, { kind: 'worker', pool: 'alpha' }));
  });
  after(async () => {
    await admin.call('ACL', 'DELUSER', users.core, users.alpha);
    const keys = (await admin.call('KEYS', `${names.namespace}:*`)) as string[];
    if (keys.length > 0) await admin.call('DEL', ...keys);
    await admin.quit();
  });

  it('lets each role do its work and nothing more', async () => {
    const coreUrl = withUser(SERVICE_URLS.redis, users.core, password);
    const workerUrl = withUser(SERVICE_URLS.redis, users.alpha, password);
    const producer = createRedisStreamProducer({ url: coreUrl, names, readTimeoutMs: 500 });
    const worker = createRedisStreamConsumer({ url: workerUrl, names, workerId: 'wa', readTimeoutMs: 500 });
    const events: StatusEvent[] = [];
    const sub = await producer.consumeStatus(async (batch) => void events.push(...batch));
    const cancels: string[][] = [];
    const cancelSub = await worker.onCancel((ids) => cancels.push(ids));
    try {
      const message = (pool: string): RunMessage => ({
        runId: String(100 + Math.floor(Math.random() * 1000)), attempt: 1, taskId: '0b5cf2a4-86f1-4d7e-9c5e-2f4b8e1d0a11', taskName: 't', pool, priority: 0,
        type: 'noop', spec: { params: {} }, timeoutSeconds: 5, shard: 0, shardTotal: 1, scheduledTime: '2030-01-01T00:00:00.000Z',
      });
      const mine = message('alpha');
      await producer.publish([mine, message('beta')]);
      assert.equal(await producer.backlog('alpha'), 1);
      const [delivery] = await worker.receive('alpha', { max: 5, waitMs: 2000 });
      assert.equal(delivery?.message.runId, mine.runId);
      assert.equal(await delivery?.claim('wa'), true, 'the claim script runs under the worker account');
      await worker.publishStatus([{ kind: 'finished', runId: mine.runId, attempt: 1, workerId: 'wa', at: new Date().toISOString(), status: 'succeeded' }]);
      const deadline = Date.now() + 5000;
      while (events.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
      assert.deepEqual(events.map((e) => e.kind).sort(), ['finished', 'started']);
      await producer.publishCancel([{ runId: mine.runId, taskId: mine.taskId, attempt: 1 }]);
      const cancelDeadline = Date.now() + 5000;
      while (cancels.length === 0 && Date.now() < cancelDeadline) await new Promise((resolve) => setTimeout(resolve, 25));
      assert.deepEqual(cancels, [[`${mine.runId}/1`]]);

      // what the worker account must not do
      const raw = new Redis(workerUrl, { protocol: 2, maxRetriesPerRequest: 1 });
      raw.on('error', () => {});
      try {
        await assert.rejects(raw.call('XRANGE', `${names.namespace}:${names.statusQueue}`, '-', '+'), /NOPERM/, 'reads other workers\' status events');
        await assert.rejects(raw.call('XREADGROUP', 'GROUP', 'workers', 'wa', 'COUNT', 1, 'STREAMS', `${names.namespace}:${names.taskQueue}:beta:p0`, '>'), /NOPERM/, 'takes another pool\'s runs');
        await assert.rejects(raw.call('PUBLISH', `${names.namespace}:${names.taskQueue}:cancel`, '["1"]'), /NOPERM/, 'publishes cancels');
        await assert.rejects(raw.call('KEYS', '*'), /NOPERM/, 'lists keys');
      } finally {
        raw.disconnect();
      }
    } finally {
      await cancelSub.close();
      await sub.close();
      await worker.close();
      await producer.close();
    }
  });
});
