/**
 * A host that vanishes without closing its sockets keeps, until the broker notices, whatever RabbitMQ
 * handed it: prefetched claim requests, run messages, a status batch. The broker notices through AMQP
 * heartbeats; without one of ours the server's 60 s applied (the 300 s chaos form on rabbitmq saw runs
 * wait two minutes after a leader's host vanished). Every connection of ours asks for 10 s unless the URL
 * says otherwise.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AmqpLink, DEFAULT_HEARTBEAT_SECONDS, withHeartbeat } from '../../core/queue/rabbitmq/link.ts';
import { SERVICE_URLS, skipUnless } from '../support/services.ts';

const skipLive = await skipUnless('rabbitmq');

describe('rabbitmq heartbeat', () => {
  it('is added to a URL that names none, and an explicit one is kept', () => {
    assert.equal(new URL(withHeartbeat('amqp://u:p@mq:5672/%2F')).searchParams.get('heartbeat'), String(DEFAULT_HEARTBEAT_SECONDS));
    assert.equal(withHeartbeat('amqp://u:p@mq:5672/%2F?heartbeat=3&frameMax=0'), 'amqp://u:p@mq:5672/%2F?heartbeat=3&frameMax=0');
    assert.equal(new URL(withHeartbeat('amqps://mq/vhost?frameMax=0')).searchParams.get('frameMax'), '0', 'other parameters are kept');
  });

  describe('negotiated with the broker', { skip: skipLive }, () => {
    const link = new AmqpLink(SERVICE_URLS.rabbitmq, 'hg-heartbeat-test', 5000, async () => {}, () => {});
    after(() => link.close());

    it(`is ${DEFAULT_HEARTBEAT_SECONDS} s on a connection of ours`, async () => {
      const gen = await link.get();
      const { heartbeat } = (gen.model as unknown as { connection: { heartbeat: number } }).connection;
      assert.equal(heartbeat, DEFAULT_HEARTBEAT_SECONDS);
    });
  });
});
