/**
 * The run-signing keys of this process, from [message_queue.signing] (keys inline, or in files). Which
 * process holds which key is the trust model (docs/brokers.md): the core signs with the secret key, workers
 * verify with the public key and can never sign.
 */
import { readFileSync } from 'node:fs';
import type { Config } from '../config/index.ts';
import type { Delivery, QueueProducer, RunMessage } from './port.ts';
import { loadSigningKeys, signRunMessage, verifyRunMessage, type SigningKeys } from './run-signing.ts';

export function signingKeys(config: Config): SigningKeys {
  const s = config.message_queue.signing;
  const read = (file: string, inline: string): string => (file ? readFileSync(file, 'utf8') : inline);
  return loadSigningKeys({ secretKey: read(s.secret_key_file, s.secret_key), publicKey: read(s.public_key_file, s.public_key) });
}

/** The producer, signing every run message it publishes. */
export function signingProducer(inner: QueueProducer, secret: NonNullable<SigningKeys['secret']>): QueueProducer {
  return {
    kind: inner.kind,
    publish: (messages: RunMessage[]) => inner.publish(messages.map((m) => signRunMessage(m, secret))),
    backlog: (pool) => inner.backlog(pool),
    consumeStatus: (handler) => inner.consumeStatus(handler),
    serveClaims: (decide) => inner.serveClaims(decide),
    publishCancel: (targets) => inner.publishCancel(targets),
    withdraw: (targets) => inner.withdraw(targets),
    publishDrain: (workerId) => inner.publishDrain(workerId),
    probeStatus: (at) => inner.probeStatus(at),
    ping: () => inner.ping(),
    close: () => inner.close(),
  };
}

/** The check a worker applies to each delivery before claiming it (guarded-consumer.ts). */
export function signatureCheck(publicKey: NonNullable<SigningKeys['public']>): (delivery: Delivery) => string | undefined {
  return (delivery) => verifyRunMessage(delivery.message, publicKey);
}
