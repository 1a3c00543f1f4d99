/**
 * Redis key layout, per namespace `ns` (QueueNames.namespace):
 * - `${ns}:${taskQueue}:${pool}:p1|p0|n1`  run messages by priority band (> 0, == 0, < 0), group `workers`
 * - `${ns}:${taskQueue}:dead`               dead-lettered run messages (fields: reason, payload, stream)
 * - `${ns}:${statusQueue}`, `${ns}:${heartbeatQueue}`  status / heartbeat events, group `core`
 * - `${ns}:${statusQueue}:dead`             status events that could not be decoded
 * - `${ns}:${taskQueue}:claim:${taskId}:${runId}:${attempt}`  claim keys (SET NX EX 6 hours); the task id is a
 *   random UUID, so a recreated database, whose run ids start again at 1, never meets an old claim
 * - `${ns}:${taskQueue}:cancel`              pub/sub channel for cancels
 */
import { priorityBand } from '../codec.ts';
import type { QueueNames, RunMessage } from '../port.ts';

export const WORKERS_GROUP = 'workers';
/**
 * A claim key outlives every copy of its message that may still be claimed: the claim script refuses
 * entries older than STALE_ENTRY_MS (by Redis's clock), an hour less than the key lives. One key per attempt
 * for 6 hours bounds the keys to the attempts of 6 hours (issue 12, defect 15; it used to be 7 days).
 */
export const CLAIM_TTL_SECONDS = 6 * 3600;
export const STALE_ENTRY_MS = 5 * 3600 * 1000;
/** how long a worker keeps asking Redis for one claim whose reply was lost before it gives the claim up */
export const CLAIM_DEADLINE_MS = 5000;
/** the claim value of an attempt cancelled before any worker took it */
export const CANCELLED_CLAIM = 'cancelled';
export const CORE_GROUP = 'core';
/** the single field of every entry, holding the JSON payload */
export const FIELD = 'm';
const BANDS = ['p1', 'p0', 'n1'] as const;

export class Keys {
  readonly ns: string;
  readonly names: QueueNames;
  constructor(names: QueueNames) {
    this.names = names;
    this.ns = names.namespace;
  }
  /** the pool's three band streams, highest priority first (the order receive() reads them in) */
  bands(pool: string): [string, string, string] {
    const base = `${this.ns}:${this.names.taskQueue}:${pool}`;
    return [`${base}:${BANDS[0]}`, `${base}:${BANDS[1]}`, `${base}:${BANDS[2]}`];
  }
  band(message: RunMessage): string {
    const band = priorityBand(message.priority);
    return this.bands(message.pool)[band === 1 ? 0 : band === 0 ? 1 : 2];
  }
  get dead(): string {
    return `${this.ns}:${this.names.taskQueue}:dead`;
  }
  get status(): string {
    return `${this.ns}:${this.names.statusQueue}`;
  }
  get heartbeat(): string {
    return `${this.ns}:${this.names.heartbeatQueue}`;
  }
  get statusDead(): string {
    return `${this.ns}:${this.names.statusQueue}:dead`;
  }
  get cancel(): string {
    return `${this.ns}:${this.names.taskQueue}:cancel`;
  }
  claim(message: Pick<RunMessage, 'taskId' | 'runId' | 'attempt'>): string {
    return `${this.ns}:${this.names.taskQueue}:claim:${message.taskId}:${message.runId}:${message.attempt}`;
  }
}
