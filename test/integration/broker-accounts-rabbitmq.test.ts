/**
 * Issue 13, item 2: the RabbitMQ permissions of docs/brokers.md, with real users. Creating users needs
 * `rabbitmqctl` on this host: without it the suite is skipped with that reason.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import amqp from 'amqplib';
import type { QueueNames, RunMessage, StatusEvent } from '../../core/queue/port.ts';
import { rabbitPermissions } from '../../core/queue/rabbitmq/permissions.ts';
import { createRabbitConsumer, createRabbitProducer } from '../../core/queue/rabbitmq/index.ts';
import { SERVICE_URLS, skipUnless, uniqueNamespace } from '../support/services.ts';

function ctl(...args: string[]): { ok: boolean; out: string } {
  const result = spawnSync('rabbitmqctl', args, { encoding: 'utf8', timeout: 30_000 });
  return { ok: result.status === 0, out: `${result.stdout ?? ''}${result.stderr ?? ''}` };
}

const skip = (await skipUnless('rabbitmq')) || (ctl('list_users').ok ? false : 'rabbitmqctl is not available on this host to create users');

function withUser(url: string, user: string, password: string): string {
  const u = new URL(url);
  u.username = user;
  u.password = password;
  return u.toString();
}

describe('rabbitmq accounts per role and pool', { skip }, () => {
  const names: QueueNames = { namespace: uniqueNamespace(), taskQueue: 'runs', statusQueue: 'status', heartbeatQueue: 'beats' };
  const suffix = randomBytes(4).toString('hex');
  const users = { core: `hg-core-${suffix}`, alpha: `hg-alpha-${suffix}` };
  const password = randomBytes(16).toString('hex');

  before(() => {
    for (const [user, role] of [[users.core, { kind: 'core' as const }], [users.alpha, { kind: 'worker' as const, pool: 'alpha' }]] as const) {
      assert.ok(ctl('add_user', user, password).ok);
      const p = rabbitPermissions(names, role);
      const set = ctl('set_permissions', '-p', '/', user, p.configure, p.write, p.read);
      assert.ok(set.ok, set.out);
    }
  });
  after(async () => {
    ctl('delete_user', users.core);
    ctl('delete_user', users.alpha);
    const connection = await amqp.connect(SERVICE_URLS.rabbitmq);
    const channel = await connection.createChannel();
    const ns = names.namespace;
    for (const q of [`${ns}.runs.alpha`, `${ns}.runs.beta`, `${ns}.runs.dead`, `${ns}.runs.claims`, `${ns}.status`, `${ns}.beats`]) await channel.deleteQueue(q);
    await channel.deleteExchange(`${ns}.runs.dead`);
    await channel.deleteExchange(`${ns}.runs.cancel`);
    await connection.close();
  });

  it('lets each role do its work and a worker read nothing but its pool', async () => {
    const producer = createRabbitProducer({ url: withUser(SERVICE_URLS.rabbitmq, users.core, password), names, prefetch: 10 });
    const worker = createRabbitConsumer({ url: withUser(SERVICE_URLS.rabbitmq, users.alpha, password), names, prefetch: 10, claimTimeoutMs: 5000 });
    const events: StatusEvent[] = [];
    const subs = [await producer.consumeStatus(async (batch) => void events.push(...batch)), await producer.serveClaims(async (claims) => claims.map(() => true))];
    try {
      const message = (pool: string): RunMessage => ({
        runId: '5', attempt: 1, taskId: 't', taskName: 't', pool, priority: 0, type: 'noop', spec: { params: {} }, timeoutSeconds: 5, shard: 0, shardTotal: 1, scheduledTime: '2030-01-01T00:00:00.000Z',
      });
      await producer.publish([message('alpha'), message('beta')]);
      const cancels: string[][] = [];
      const cancelSub = await worker.onCancel((ids) => cancels.push(ids));
      const [delivery] = await worker.receive('alpha', { max: 1, waitMs: 3000 });
      assert.equal(await delivery?.claim('wa'), true);
      await worker.publishStatus([{ kind: 'finished', runId: '5', attempt: 1, workerId: 'wa', at: new Date().toISOString(), status: 'succeeded' }]);
      const deadline = Date.now() + 5000;
      while (events.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
      assert.deepEqual(events.map((e) => e.kind), ['finished']);
      await producer.publishCancel([{ runId: '5', taskId: 't', attempt: 1 }]);
      const cancelDeadline = Date.now() + 5000;
      while (cancels.length === 0 && Date.now() < cancelDeadline) await new Promise((resolve) => setTimeout(resolve, 25));
      assert.deepEqual(cancels, [['5/1']]);
      await cancelSub.close();

      // what the worker account must not do: read another pool's runs, or other workers' status events
      const raw = await amqp.connect(withUser(SERVICE_URLS.rabbitmq, users.alpha, password));
      raw.on('error', () => {});
      for (const queue of [`${names.namespace}.runs.beta`, `${names.namespace}.status`]) {
        const ch = await raw.createChannel();
        ch.on('error', () => {});
        await assert.rejects(ch.get(queue), /ACCESS_REFUSED/, `reads ${queue}`);
      }
      await raw.close().catch(() => {});
    } finally {
      for (const s of subs) await s.close();
      await worker.close();
      await producer.close();
    }
  });
});
