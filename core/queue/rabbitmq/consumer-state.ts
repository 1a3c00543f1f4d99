import type { Channel, ConfirmChannel } from 'amqplib';
import type { Generation } from './link.ts';

/** What a worker has opened on one connection generation; a reconnect starts from an empty one. */
export interface ConsumerState {
  gen: Generation;
  /** publishing (status, claims, dead letters) and the direct reply-to consumer */
  pub: ConfirmChannel;
  /** pool -> its consuming channel, started at most once per generation */
  pools: Map<string, Promise<Channel>>;
  /** the cancel queue's consumer, started at most once per generation */
  cancel: Promise<void> | undefined;
}
