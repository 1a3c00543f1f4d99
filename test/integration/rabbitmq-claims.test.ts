/**
 * The claims RPC over RabbitMQ (claim-client.ts, claim-server.ts): a worker asks the core over the broker
 * for every run it takes, so the round trip sets the rate of a pool (its concurrency / the round trip).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import amqp from 'amqplib';
import type { Socket } from 'node:net';
import type { Claim, QueueNames, RunMessage } from '../../core/queue/port.ts';
import { createRabbitConsumer, createRabbitProducer } from '../../core/queue/rabbitmq/index.ts';
import { AmqpLink } from '../../core/queue/rabbitmq/link.ts';
import { SERVICE_URLS, skipUnless, uniqueNamespace } from '../support/services.ts';

const skip = await skipUnless('rabbitmq');

/** Node keeps the last setNoDelay() of a socket under this symbol; it has no public getter. */
function noDelayOf(socket: Socket): unknown {
  const symbol = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'kSetNoDelay');
  assert.ok(symbol, 'this Node keeps no kSetNoDelay on its sockets: read the option another way');
  return (socket as unknown as Record<symbol, unknown>)[symbol];
}

describe('rabbitmq claims', { skip }, () => {
  it('travel on sockets with Nagle\'s algorithm off, so that a small frame is not held for the peer\'s delayed ACK', async () => {
    const link = new AmqpLink(SERVICE_URLS.rabbitmq, 'hg-nodelay-test', 5000, async () => {}, () => {});
    after(() => link.close());
    const gen = await link.get();
    const { stream } = (gen.model as unknown as { connection: { stream: Socket } }).connection;
    assert.equal(noDelayOf(stream), true);
  });

  it('are decided one batch at a time: claims that arrive while a batch is decided wait for it, and are all answered after', async () => {
    const names: QueueNames = { namespace: uniqueNamespace(), taskQueue: 'runs', statusQueue: 'status', heartbeatQueue: 'heartbeats' };
    const options = { url: SERVICE_URLS.rabbitmq, names, prefetch: 10, claimTimeoutMs: 10_000 };
    const producer = createRabbitProducer(options);
    const worker = createRabbitConsumer(options);
    const admin = await amqp.connect(SERVICE_URLS.rabbitmq);
    const channel = await admin.createChannel();
    const decided: string[][] = [];
    let inFlight = 0;
    let mostInFlight = 0;
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let firstAsked!: () => void;
    const firstDecideStarted = new Promise<void>((resolve) => (firstAsked = resolve));
    const subscription = await producer.serveClaims(async (claims: Claim[]) => {
      inFlight += 1;
      mostInFlight = Math.max(mostInFlight, inFlight);
      decided.push(claims.map((c) => c.runId));
      if (decided.length === 1) {
        firstAsked();
        await held;
      }
      inFlight -= 1;
      return claims.map(() => true);
    });
    const message = (runId: string): RunMessage => ({
      runId, attempt: 1, taskId: '3b5cf2a4-86f1-4d7e-9c5e-2f4b8e1d0a14', taskName: 't', pool: 'p', priority: 0, type: 'noop',
      spec: { params: {} }, timeoutSeconds: 5, shard: 0, shardTotal: 1, scheduledTime: '2030-01-01T00:00:00.000Z',
    });
    try {
      await producer.publish([message('1')]);
      const [first] = await worker.receive('p', { max: 1, waitMs: 5000 });
      assert.ok(first, 'the first run is delivered');
      const firstAnswer = first.claim('w-1');
      await firstDecideStarted;

      const later = ['2', '3', '4', '5', '6', '7'];
      await producer.publish(later.map(message));
      const deliveries = [];
      while (deliveries.length < later.length) deliveries.push(...(await worker.receive('p', { max: later.length - deliveries.length, waitMs: 5000 })));
      // each claim in a turn of its own, so each is a message of its own
      const answers: Promise<boolean>[] = [];
      for (const d of deliveries) {
        answers.push(d.claim('w-1'));
        await new Promise((resolve) => setImmediate(resolve));
      }
      // every claim message has left the claims queue for the core's consumer
      for (;;) {
        const { messageCount } = await channel.checkQueue(`${names.namespace}.runs.claims`);
        if (messageCount === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal(decided.length, 1, 'no second batch is decided while the first one is');
      release();

      assert.equal(await firstAnswer, true);
      assert.deepEqual(await Promise.all(answers), later.map(() => true));
      assert.equal(mostInFlight, 1, 'never two batches decided at once');
      assert.deepEqual(decided.flat().sort(), ['1', ...later]);
      assert.ok(decided.length < 1 + later.length, `the claims that waited were decided together, not one call each (calls: ${JSON.stringify(decided)})`);
    } finally {
      await subscription.close();
      await worker.close();
      await producer.close();
      for (const queue of ['runs.p', 'runs.dead', 'runs.claims', 'status', 'heartbeats']) await channel.deleteQueue(`${names.namespace}.${queue}`);
      for (const exchange of ['runs.dead', 'runs.cancel']) await channel.deleteExchange(`${names.namespace}.${exchange}`);
      await admin.close();
    }
  });
});
