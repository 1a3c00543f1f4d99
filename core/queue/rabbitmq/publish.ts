/** Publishing with publisher confirms, and the priority mapping of run messages. */
import { once } from 'node:events';
import type { ConfirmChannel } from 'amqplib';

export const JSON_TYPE = 'application/json';

/** Maps priority -100..100 onto AMQP 0..9, monotonically, keeping the three bands apart: <0 -> 0..3, 0 -> 4, >0 -> 5..9. */
export function amqpPriority(priority: number): number {
  const p = Math.max(-100, Math.min(100, Math.trunc(priority)));
  if (p > 0) return 5 + Math.min(4, Math.floor(((p - 1) * 5) / 100));
  if (p < 0) return 3 - Math.min(3, Math.floor(((-p - 1) * 4) / 100));
  return 4;
}

/** Resolves once the broker confirmed every message: that is when publish() may report them durable. */
export async function publishAll(ch: ConfirmChannel, sends: Array<() => boolean>): Promise<void> {
  for (const send of sends) {
    // Respect back-pressure: amqplib buffers without bound otherwise.
    if (!send()) await Promise.race([once(ch, 'drain'), once(ch, 'close').then(() => Promise.reject(new Error('channel closed')))]);
  }
  await ch.waitForConfirms();
}
