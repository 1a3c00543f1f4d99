import type { Claim, StatusEvent } from '../queue/port.ts';
import type { CoreContext } from './context.ts';
import { finishAttempts } from './outcomes.ts';
import { toCancelTarget, type CancelRow } from '../store/runs.ts';

type Of<K extends StatusEvent['kind']> = Extract<StatusEvent, { kind: K }>;

/**
 * Workers cap output themselves (worker.output_limit_kb); this is the core's own bound, so a misconfigured
 * or hostile worker cannot fill the database through one run.
 */
const MAX_STORED_OUTPUT = 4 * 1024 * 1024;
const MAX_STORED_ERROR = 16 * 1024;
const MAX_STORED_LOG_CHUNK = 64 * 1024;

/** Text as Postgres can store it: no NUL characters (shown as U+2400), at most `max` characters. */
function storable(text: string | null, max: number): string | null {
  if (text === null) return null;
  const safe = text.includes('\u0000') ? text.replaceAll('\u0000', '\u2400') : text;
  if (safe.length <= max) return safe;
  return `${safe.slice(0, max)}\n[cut by the scheduler: ${safe.length - max} more characters]`;
}

const INT4_MAX = 2_147_483_647;
const RUN_ID_RE = /^\d{1,18}$/;

/** Why an event cannot be stored at all, or undefined; such events are dropped with a warning. */
function unstorable(event: StatusEvent): string | undefined {
  if (event.kind === 'heartbeat') return Number.isNaN(Date.parse(event.startedAt)) ? 'startedAt is not a time' : undefined;
  if (!RUN_ID_RE.test(event.runId)) return `runId "${event.runId.slice(0, 40)}" is not a run id`;
  if (event.attempt < 1 || event.attempt > INT4_MAX) return `attempt ${event.attempt} is out of range`;
  if (event.kind === 'log') return event.seq < 0 || event.seq > INT4_MAX ? `seq ${event.seq} is out of range` : undefined;
  return Number.isNaN(Date.parse(event.at)) ? `"at" is not a time` : undefined;
}

/** Postgres refused the data itself (class 22: bad value; 23: constraint, e.g. a log for an unknown run). */
function isDataError(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}

/**
 * Writes a batch of worker events to Postgres in a few statements. Events of one run arrive in order
 * (started before finished); a finished event for a run already terminal is ignored.
 */
export async function applyStatusEvents(ctx: CoreContext, events: StatusEvent[]): Promise<void> {
  const accepted = events.filter((event) => {
    const problem = unstorable(event);
    if (problem) ctx.logger.warn({ event: event.kind, problem }, 'status event dropped: it cannot be stored');
    return !problem;
  });
  try {
    await applyBatch(ctx, accepted);
  } catch (error) {
    if (!isDataError(error)) throw error;
    if (accepted.length === 1) {
      ctx.logger.warn({ event: accepted[0]?.kind, err: (error as Error).message }, 'status event dropped: the database refused it');
      return;
    }
    // One bad event must not hold back the others (a retried batch would fail for ever): one at a time.
    for (const event of accepted) await applyStatusEvents(ctx, [event]);
  }
}

async function applyBatch(ctx: CoreContext, events: StatusEvent[]): Promise<void> {
  const heartbeats = new Map<string, Of<'heartbeat'>>();
  const startedByAttempt = new Map<string, Of<'started'>>();
  const finished: Of<'finished'>[] = [];
  const logs: Of<'log'>[] = [];
  for (const event of events) {
    if (event.kind === 'heartbeat') heartbeats.set(event.workerId, event);
    else if (event.kind === 'started') startedByAttempt.set(`${event.runId}/${event.attempt}`, event);
    else if (event.kind === 'finished') finished.push(event);
    else logs.push(event);
  }
  // An attempt that started and finished within one batch is written once, by its outcome: every write of
  // hg_runs is a new row version in each of its indexes, so this halves the work of short runs.
  const startedAt = new Map<string, Date>();
  for (const event of finished) {
    const key = `${event.runId}/${event.attempt}`;
    const start = startedByAttempt.get(key);
    if (!start) continue;
    startedByAttempt.delete(key);
    startedAt.set(key, new Date(start.at));
  }
  const started = [...startedByAttempt.values()];
  if (heartbeats.size > 0) {
    await recordHeartbeats(ctx, [...heartbeats.values()]);
    await cancelSupersededAttempts(ctx, [...heartbeats.values()]);
  }
  if (started.length > 0) await recordStarted(ctx, started);
  if (logs.length > 0) await recordLogs(ctx, logs.map((l) => ({ ...l, chunk: storable(l.chunk, MAX_STORED_LOG_CHUNK) as string })));
  if (finished.length > 0) {
    await finishAttempts(
      ctx,
      finished.map((e) => ({
        runId: e.runId,
        attempt: e.attempt,
        status: e.status,
        at: new Date(e.at),
        startedAt: startedAt.get(`${e.runId}/${e.attempt}`) ?? null,
        workerId: e.workerId,
        exitCode: e.exitCode ?? null,
        httpStatus: e.httpStatus ?? null,
        error: storable(e.error ?? null, MAX_STORED_ERROR),
        output: storable(e.output ?? null, MAX_STORED_OUTPUT),
        retryable: e.retryable,
      })),
    );
  }
}

/** last_heartbeat_at takes the database's clock, so a worker with a skewed clock is judged fairly. */
async function recordHeartbeats(ctx: CoreContext, beats: Of<'heartbeat'>[]): Promise<void> {
  await ctx.db.query(
    `INSERT INTO hg_workers (id, pool, task_types, status, concurrency, active_runs, held_runs, hostname, version, started_at, last_heartbeat_at)
     SELECT id, pool, task_types::jsonb, status, concurrency, active_runs, held_runs::jsonb, hostname, version, started_at, now()
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[], $7::text[], $8::text[], $9::timestamptz[], $10::text[])
            AS u(id, pool, task_types, status, concurrency, active_runs, hostname, version, started_at, held_runs)
     ON CONFLICT (id) DO UPDATE SET pool = excluded.pool, task_types = excluded.task_types, status = excluded.status,
       concurrency = excluded.concurrency, active_runs = excluded.active_runs, held_runs = excluded.held_runs,
       hostname = excluded.hostname, version = excluded.version, started_at = excluded.started_at, last_heartbeat_at = now()`,
    [
      beats.map((b) => b.workerId),
      beats.map((b) => b.pool),
      beats.map((b) => JSON.stringify(b.taskTypes)),
      beats.map((b) => b.status),
      beats.map((b) => b.concurrency),
      beats.map((b) => b.activeRuns),
      beats.map((b) => b.hostname),
      beats.map((b) => b.version),
      beats.map((b) => b.startedAt),
      beats.map((b) => JSON.stringify(b.held ?? [])),
    ],
  );
}

/**
 * A worker declared dead that comes back (a long pause, a partition) still runs attempts the core has
 * already failed and retried elsewhere: it is told to stop them, so an attempt does not run on twice.
 */
async function cancelSupersededAttempts(ctx: CoreContext, beats: Of<'heartbeat'>[]): Promise<void> {
  const held = beats.flatMap((b) => (b.held ?? []).map((h) => h.split('/'))).filter(([id, attempt]) => RUN_ID_RE.test(id ?? '') && /^\d{1,9}$/.test(attempt ?? ''));
  if (held.length === 0) return;
  const { rows } = await ctx.db.query<CancelRow>(
    `SELECT r.id::text AS id, r.task_id::text AS task_id, r.attempt
       FROM hg_runs r JOIN unnest($1::bigint[], $2::int[]) AS u(id, attempt) ON r.id = u.id AND r.attempt = u.attempt
      WHERE r.status NOT IN ('pending', 'queued', 'running')`,
    [held.map(([id]) => id), held.map(([, attempt]) => Number(attempt))],
  );
  if (rows.length === 0) return;
  ctx.logger.warn({ runs: rows.map((r) => `${r.id}/${r.attempt}`) }, 'a worker still runs attempts that were settled without it; cancelling them');
  await ctx.queue.publishCancel(rows.map(toCancelTarget));
}

async function recordStarted(ctx: CoreContext, events: Of<'started'>[]): Promise<void> {
  const { rows } = await ctx.db.query<{ id: string }>(
    `UPDATE hg_runs r SET status = 'running', worker_id = u.worker_id, started_at = COALESCE(r.started_at, u.at)
       FROM unnest($1::bigint[], $2::int[], $3::text[], $4::timestamptz[]) AS u(id, attempt, worker_id, at)
      WHERE r.id = u.id AND r.attempt = u.attempt AND r.status IN ('pending', 'queued', 'running')
      RETURNING r.id::text AS id`,
    [events.map((e) => e.runId), events.map((e) => e.attempt), events.map((e) => e.workerId), events.map((e) => e.at)],
  );
  if (rows.length === events.length) return;
  // A run cancelled while it waited in the queue was started anyway by a broker worker: tell it to stop.
  const updated = new Set(rows.map((r) => r.id));
  const late = events.filter((e) => !updated.has(e.runId)).map((e) => e.runId);
  const { rows: cancelled } = await ctx.db.query<CancelRow>(
    `SELECT id::text AS id, task_id::text AS task_id, attempt FROM hg_runs WHERE id = ANY($1::bigint[]) AND status = 'cancelled'`,
    [late],
  );
  if (cancelled.length > 0) await ctx.queue.publishCancel(cancelled.map(toCancelTarget));
}

async function recordLogs(ctx: CoreContext, logs: Of<'log'>[]): Promise<void> {
  await ctx.db.query(
    `INSERT INTO hg_run_logs (run_id, attempt, seq, stream, chunk, created_at)
     SELECT id, attempt, seq, stream, chunk, COALESCE(at, $7::timestamptz)
       FROM unnest($1::bigint[], $2::int[], $3::int[], $4::text[], $5::text[], $6::timestamptz[]) AS u(id, attempt, seq, stream, chunk, at)
     ON CONFLICT DO NOTHING`,
    [
      logs.map((l) => l.runId), logs.map((l) => l.attempt), logs.map((l) => l.seq), logs.map((l) => l.stream), logs.map((l) => l.chunk),
      // the time the worker read the line (issue 18 item 19); a worker that does not say: the time it is written
      logs.map((l) => (l.at !== undefined && !Number.isNaN(Date.parse(l.at)) ? l.at : null)),
      new Date(ctx.now()).toISOString(),
    ],
  );
}

/**
 * Decides workers' claims for brokers that cannot (rabbitmq): an attempt is granted to the first worker that
 * asks while it is still waiting, and again to that same worker only (a retried request after a lost answer).
 */
export async function decideClaims(ctx: CoreContext, claims: Claim[]): Promise<boolean[]> {
  if (claims.length === 0) return [];
  const { rows } = await ctx.db.query<{ id: string; worker_id: string }>(
    `UPDATE hg_runs r SET status = 'running', worker_id = u.worker_id, started_at = COALESCE(r.started_at, now())
       FROM unnest($1::bigint[], $2::int[], $3::text[]) AS u(id, attempt, worker_id)
      WHERE r.id = u.id AND r.attempt = u.attempt
        AND (r.status IN ('pending', 'queued') OR (r.status = 'running' AND r.worker_id = u.worker_id))
      RETURNING r.id::text AS id, r.worker_id`,
    [claims.map((c) => c.runId), claims.map((c) => c.attempt), claims.map((c) => c.workerId)],
  );
  const granted = new Set(rows.map((r) => `${r.id}/${r.worker_id}`));
  // Two claims for one attempt in the same batch: only the first may win.
  const seen = new Set<string>();
  return claims.map((c) => {
    const key = `${c.runId}/${c.workerId}`;
    if (!granted.has(key) || seen.has(c.runId)) return false;
    seen.add(c.runId);
    return true;
  });
}
