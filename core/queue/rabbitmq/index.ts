export { amqpPriority } from './publish.ts';
export { createRabbitConsumer, createRabbitProducer } from './rabbit-queue.ts';
export type { RabbitQueueOptions } from './options.ts';
