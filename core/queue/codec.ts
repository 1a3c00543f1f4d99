/**
 * Wire format shared by the broker adapters (redis_stream, rabbitmq): run messages, status events and
 * claims travel as JSON; everything read from a broker is validated here before it reaches the core or
 * a worker, so a malformed message is dead-lettered instead of crashing a consumer.
 */
import { z } from 'zod';
import type { Claim, RunMessage, StatusEvent } from './port.ts';

export const runMessageSchema = z.object({
  runId: z.string().min(1),
  attempt: z.number().int().min(0),
  taskId: z.string().min(1),
  taskName: z.string(),
  pool: z.string().min(1),
  priority: z.number().int().min(-100).max(100),
  type: z.string().min(1),
  spec: z.object({
    shell: z.unknown().optional(),
    http: z.unknown().optional(),
    params: z.record(z.string(), z.unknown()).optional(),
  }),
  timeoutSeconds: z.number().min(0),
  shard: z.number().int().min(0),
  shardTotal: z.number().int().min(1),
  scheduledTime: z.string(),
  signature: z.string().max(200).optional(),
});

const finishedStatus = z.enum(['succeeded', 'failed', 'timed_out', 'cancelled']);

export const statusEventSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('started'), runId: z.string(), attempt: z.number().int(), workerId: z.string(), at: z.string() }),
  z.object({
    kind: z.literal('finished'),
    runId: z.string(),
    attempt: z.number().int(),
    workerId: z.string(),
    at: z.string(),
    status: finishedStatus,
    exitCode: z.number().int().nullable().optional(),
    httpStatus: z.number().int().nullable().optional(),
    error: z.string().nullable().optional(),
    output: z.string().nullable().optional(),
    retryable: z.boolean().optional(),
    sig: z.string().max(200).optional(),
  }),
  z.object({
    kind: z.literal('log'),
    runId: z.string(),
    attempt: z.number().int(),
    seq: z.number().int(),
    stream: z.enum(['stdout', 'stderr']),
    chunk: z.string(),
    at: z.string().optional(),
  }),
  z.object({
    kind: z.literal('heartbeat'),
    workerId: z.string(),
    pool: z.string(),
    taskTypes: z.array(z.string()),
    concurrency: z.number().int(),
    activeRuns: z.number().int(),
    status: z.enum(['ALIVE', 'DRAINING', 'DOWN']),
    hostname: z.string(),
    version: z.string(),
    startedAt: z.string(),
    at: z.string(),
    held: z.array(z.string()).optional(),
    abandoned: z.array(z.string()).max(10_000).optional(),
    incarnation: z.string().max(100).optional(),
    workerKey: z.string().max(200).optional(),
    sig: z.string().max(200).optional(),
  }),
  z.object({ kind: z.literal('probe'), at: z.string().max(40) }),
]);

export const claimSchema = z.object({ runId: z.string().min(1), attempt: z.number().int(), workerId: z.string().min(1) });

export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: string };

function decode<T>(schema: z.ZodType<T>, raw: string | Buffer | null | undefined, what: string): Decoded<T> {
  if (raw === null || raw === undefined) return { ok: false, reason: `${what}: empty payload` };
  let json: unknown;
  try {
    json = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
  } catch (error) {
    return { ok: false, reason: `${what}: invalid JSON (${(error as Error).message})` };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    return { ok: false, reason: `${what}: ${issues.join('; ')}` };
  }
  return { ok: true, value: parsed.data };
}

export function encodeRunMessage(message: RunMessage): string {
  return JSON.stringify(message);
}

export function decodeRunMessage(raw: string | Buffer | null | undefined): Decoded<RunMessage> {
  return decode(runMessageSchema as z.ZodType<RunMessage>, raw, 'run message');
}

export function encodeStatusEvent(event: StatusEvent): string {
  return JSON.stringify(event);
}

export function decodeStatusEvent(raw: string | Buffer | null | undefined): Decoded<StatusEvent> {
  return decode(statusEventSchema as z.ZodType<StatusEvent>, raw, 'status event');
}

const statusEventsSchema = z.union([statusEventSchema, z.array(statusEventSchema).min(1)]);

/** A status message: one event, or (rabbitmq workers batch what their outbox flushes) an array of them. */
export function decodeStatusEvents(raw: string | Buffer | null | undefined): Decoded<StatusEvent[]> {
  const decoded = decode(statusEventsSchema as z.ZodType<StatusEvent | StatusEvent[]>, raw, 'status event');
  if (!decoded.ok) return decoded;
  return { ok: true, value: Array.isArray(decoded.value) ? decoded.value : [decoded.value] };
}

export function decodeClaim(raw: string | Buffer | null | undefined): Decoded<Claim> {
  return decode(claimSchema as z.ZodType<Claim>, raw, 'claim');
}

const claimsSchema = z.union([claimSchema, z.array(claimSchema).min(1)]);

/** A claim message: one claim, or (workers batch the claims of one receive) an array of them. */
export function decodeClaims(raw: string | Buffer | null | undefined): Decoded<{ claims: Claim[]; batched: boolean }> {
  const decoded = decode(claimsSchema as z.ZodType<Claim | Claim[]>, raw, 'claim');
  if (!decoded.ok) return decoded;
  const batched = Array.isArray(decoded.value);
  return { ok: true, value: { claims: batched ? (decoded.value as Claim[]) : [decoded.value as Claim], batched } };
}

/** Cancel notifications are a JSON array of run ids; anything else is ignored by the receiver. */
export function decodeCancel(raw: string | Buffer): string[] {
  try {
    const value: unknown = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
    return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
  } catch {
    return [];
  }
}

/**
 * Delivers one cancel notification to every handler, as both broker adapters do: an unreadable or empty
 * notification is ignored, and a handler that throws must not starve the others.
 */
export function notifyCancel(raw: string | Buffer, handlers: Iterable<(runIds: string[]) => void>): void {
  const runIds = decodeCancel(raw);
  if (runIds.length === 0) return;
  for (const handler of handlers) {
    try {
      handler(runIds);
    } catch {
      // a failing handler must not stop the others
    }
  }
}

/**
 * Calls `attempt` until it resolves, backing off 100 ms .. 5 s, for as long as `keepTrying()` holds.
 * Status batches are handed over this way: the very same batch is retried, never dropped and never
 * reordered, so later events of a run cannot overtake it. Returns false when it gave up (closing, or the
 * connection the batch came from died): the broker still holds the batch and delivers it again.
 */
export async function retryUntilAccepted(attempt: () => Promise<void>, keepTrying: () => boolean, signal: AbortSignal): Promise<boolean> {
  let delay = 100;
  while (keepTrying()) {
    try {
      await attempt();
      return true;
    } catch {
      await sleep(delay, signal);
      delay = Math.min(delay * 2, 5000);
    }
  }
  return false;
}

/** Priority band of a run message, shared by both broker adapters: 1 for > 0, 0 for == 0, -1 for < 0. */
export function priorityBand(priority: number): 1 | 0 | -1 {
  return priority > 0 ? 1 : priority < 0 ? -1 : 0;
}

/** Stable sort by priority, highest first (Array.prototype.sort is stable). */
export function byPriorityDesc<T extends { message: RunMessage }>(items: T[]): T[] {
  return items.sort((a, b) => b.message.priority - a.message.priority);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
