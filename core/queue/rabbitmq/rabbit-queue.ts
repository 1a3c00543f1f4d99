/**
 * rabbitmq queue adapter (amqplib): the factories. Topology in topology.ts, reconnects in link.ts, the
 * core's side in producer.ts (+ status-consumer.ts, claim-server.ts), a worker's side in consumer.ts
 * (+ receiver.ts, delivery.ts, claim-client.ts, cancel-listener.ts).
 */
import type { QueueConsumer, QueueProducer } from '../port.ts';
import { RabbitConsumer } from './consumer.ts';
import type { RabbitQueueOptions } from './options.ts';
import { RabbitProducer } from './producer.ts';

export function createRabbitProducer(options: RabbitQueueOptions): QueueProducer {
  return new RabbitProducer(options);
}

export function createRabbitConsumer(options: RabbitQueueOptions): QueueConsumer {
  return new RabbitConsumer(options);
}
