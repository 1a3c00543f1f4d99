export { amqpPriority, createRabbitConsumer, createRabbitProducer, createRabbitQueue } from './rabbit-queue.ts';
export type { RabbitQueueOptions } from './rabbit-queue.ts';
