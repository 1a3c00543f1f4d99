import { REJECTED_CLAIMANT } from '../queue/guarded-consumer.ts';
import type { Claim, StatusEvent } from '../queue/port.ts';
import { verifyWorkerSignature } from '../queue/worker-identity.ts';
import { attemptsWithHolders, cancelledRunsAmong, type DeadLetter, grantClaims, insertDeadLetters, insertRunLogs, isTransientFailure, pingDatabase, recordStartedAttempts, recordStatusProbe, toCancelTarget } from '../store/index.ts';
import type { CoreContext } from './context.ts';
import { applyHeartbeats } from './heartbeats.ts';
import { reconcileLateOutcomes } from './late-outcomes.ts';
import { finishAttempts, keepOutputOfCancelled, type AttemptOutcome } from './outcomes.ts';
import { blamesTheEvents, livenessNow, noteInterrupted, noteReceiving, UNEXPLAINED_FAILURES_BEFORE_DEAD_LETTER } from './receiving.ts';

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

/** Why an event cannot be stored at all, or undefined; such events are dead-lettered. */
function unstorable(event: StatusEvent): string | undefined {
  if (event.kind === 'heartbeat') return Number.isNaN(Date.parse(event.startedAt)) ? 'startedAt is not a time' : undefined;
  if (event.kind === 'probe') return Number.isNaN(Date.parse(event.at)) ? `"at" is not a time` : undefined;
  if (!RUN_ID_RE.test(event.runId)) return `runId "${event.runId.slice(0, 40)}" is not a run id`;
  if (event.attempt < 1 || event.attempt > INT4_MAX) return `attempt ${event.attempt} is out of range`;
  if (event.kind === 'log') return event.seq < 0 || event.seq > INT4_MAX ? `seq ${event.seq} is out of range` : undefined;
  return Number.isNaN(Date.parse(event.at)) ? `"at" is not a time` : undefined;
}

/**
 * Writes a batch of worker events to Postgres in a few statements. Events of one run arrive in order
 * (started before finished); a finished event for a run already terminal is ignored.
 *
 * An event that cannot be applied is dead-lettered with its reason (hg_dead_letters) and never holds back
 * the others (issue 13, item 3): when a batch fails for a reason other than the database or the network
 * being away, it is applied one event at a time and the ones that still fail are set aside. A transient
 * failure throws, so the queue delivers the very same batch again.
 */
export async function applyStatusEvents(ctx: CoreContext, events: StatusEvent[]): Promise<void> {
  const letters: DeadLetter[] = [];
  const accepted = events.filter((event) => {
    const problem = unstorable(event);
    if (problem) letters.push(letterOf(event, problem));
    return !problem;
  });
  await setAside(ctx, letters);
  await applyOrSetAside(ctx, accepted);
}

async function applyOrSetAside(ctx: CoreContext, events: StatusEvent[]): Promise<void> {
  if (events.length === 0) return;
  try {
    await applyBatch(ctx, events);
    noteReceiving(ctx);
    for (const event of events) unexplained.delete(eventKey(event));
  } catch (error) {
    if (isTransientFailure(error)) {
      // the connection, not the events: the queue delivers the same events again, for as long as it takes
      noteInterrupted(ctx);
      throw error;
    }
    if (events.length > 1) {
      // which event is at fault, if any: one at a time; a failure that blames none throws from there
      for (const event of events) await applyOrSetAside(ctx, [event]);
      return;
    }
    const event = events[0] as StatusEvent;
    const key = eventKey(event);
    // an unexplained failure counts against the event only when the database answers right after it
    const tries = (unexplained.get(key) ?? 0) + ((await databaseAnswers(ctx)) ? 1 : 0);
    if (!blamesTheEvents(error) && tries < UNEXPLAINED_FAILURES_BEFORE_DEAD_LETTER) {
      // the database or the network, not the event: the queue delivers the same events again
      unexplained.set(key, tries);
      noteInterrupted(ctx);
      throw error;
    }
    unexplained.delete(key);
    await setAside(ctx, [letterOf(event, `could not be applied: ${(error as Error).message}`)]);
  }
}

async function databaseAnswers(ctx: CoreContext): Promise<boolean> {
  try {
    await pingDatabase(ctx.db);
    return true;
  } catch {
    return false;
  }
}

/**
 * Consecutive failures, per event, that blamed nothing in particular: bounded (oldest forgotten first), so a
 * hostile stream of distinct bad events cannot grow it, and an event that fails for ever still ends aside.
 */
const unexplained = new Map<string, number>();
const MAX_TRACKED = 10_000;
function eventKey(event: StatusEvent): string {
  const key =
    event.kind === 'heartbeat' ? `hb/${event.workerId}/${event.at}` : event.kind === 'probe' ? `probe/${event.at}` : `${event.kind}/${event.runId}/${event.attempt}${event.kind === 'log' ? `/${event.seq}` : ''}`;
  if (unexplained.size > MAX_TRACKED) unexplained.delete(unexplained.keys().next().value as string);
  return key;
}

async function setAside(ctx: CoreContext, letters: DeadLetter[]): Promise<void> {
  if (letters.length === 0) return;
  for (const l of letters) ctx.logger.warn({ source: l.source, kind: l.kind, workerId: l.workerId, runId: l.runId, reason: l.reason }, 'dead-lettered');
  await insertDeadLetters(ctx.db, letters, new Date(ctx.now()));
}

function letterOf(event: StatusEvent, reason: string): DeadLetter {
  return {
    source: 'status',
    kind: event.kind,
    workerId: 'workerId' in event ? event.workerId : null,
    runId: 'runId' in event ? event.runId : null,
    reason,
    payload: JSON.stringify(event),
  };
}

async function applyBatch(ctx: CoreContext, events: StatusEvent[]): Promise<void> {
  const heartbeats = new Map<string, Of<'heartbeat'>>();
  const startedByAttempt = new Map<string, Of<'started'>>();
  const finished: Of<'finished'>[] = [];
  const logs: Of<'log'>[] = [];
  let probedAt: number | undefined;
  for (const event of events) {
    if (event.kind === 'heartbeat') heartbeats.set(event.workerId, event);
    else if (event.kind === 'started') startedByAttempt.set(`${event.runId}/${event.attempt}`, event);
    else if (event.kind === 'finished') finished.push(event);
    else if (event.kind === 'probe') probedAt = Math.max(probedAt ?? -Infinity, Date.parse(event.at));
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
  if (heartbeats.size > 0) await applyHeartbeats(ctx, [...heartbeats.values()]);
  if (started.length > 0) await recordStarted(ctx, started);
  if (logs.length > 0) await recordLogs(ctx, logs.map((l) => ({ ...l, chunk: storable(l.chunk, MAX_STORED_LOG_CHUNK) as string })));
  if (finished.length > 0) await applyOutcomes(ctx, finished, startedAt);
  // last: the proof covers the heartbeats of this batch, which are written by now
  if (probedAt !== undefined) await recordStatusProbe(ctx.db, new Date(probedAt), await livenessNow(ctx));
}

/**
 * Outcomes from the worker that holds the attempt are applied; one from a worker that does not hold it is
 * refused and dead-lettered (issue 13, item 2); one for an attempt the core failed on the worker's behalf
 * is reconciled (late-outcomes.ts).
 */
async function applyOutcomes(ctx: CoreContext, finished: Of<'finished'>[], startedAt: Map<string, Date>): Promise<void> {
  const rows = await attemptsWithHolders(ctx.db, finished);
  const current = new Map(rows.map((r) => [`${r.id}/${r.attempt}`, r]));
  const live: Of<'finished'>[] = [];
  const late: Of<'finished'>[] = [];
  const cancelled: Of<'finished'>[] = [];
  const refused: DeadLetter[] = [];
  for (const event of finished) {
    const row = current.get(`${event.runId}/${event.attempt}`);
    if (!row) refused.push(letterOf(event, `no attempt ${event.runId}/${event.attempt} exists`));
    else if (row.worker_id !== null && row.worker_id !== event.workerId) refused.push(letterOf(event, `worker "${event.workerId}" does not hold attempt ${event.runId}/${event.attempt} (held by "${row.worker_id}")`));
    // the holder registered a key: only it can speak for the attempt (a worker from before keys has none)
    else if (row.public_key && !verifyWorkerSignature(event, row.public_key)) refused.push(letterOf(event, `outcome of attempt ${event.runId}/${event.attempt} is not signed with the key of worker "${event.workerId}"`));
    else if (ACTIVE.has(row.status)) live.push(event);
    else if (row.failed_by_core) late.push(event);
    // cancelled through the API before the worker reported: the report still brings what the run printed
    else if (row.status === 'cancelled') cancelled.push(event);
    // else: a replay of an outcome already recorded
  }
  await setAside(ctx, refused);
  const toOutcome = (e: Of<'finished'>): AttemptOutcome => ({
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
    expectWorkerId: null,
  });
  await finishAttempts(ctx, live.map(toOutcome));
  if (cancelled.length > 0) await keepOutputOfCancelled(ctx.db, cancelled.map(toOutcome));
  await reconcileLateOutcomes(ctx, late.map(toOutcome));
}

const ACTIVE = new Set(['pending', 'queued', 'running']);

async function recordStarted(ctx: CoreContext, events: Of<'started'>[]): Promise<void> {
  // the worker's clock is not the core's, and a worker not holding the attempt changes nothing (recordStartedAttempts)
  const rows = await recordStartedAttempts(ctx.db, events);
  if (rows.length === events.length) return;
  // A run cancelled while it waited in the queue was started anyway by a broker worker: tell it to stop.
  const updated = new Set(rows.map((r) => r.id));
  const late = events.filter((e) => !updated.has(e.runId)).map((e) => e.runId);
  const cancelled = await cancelledRunsAmong(ctx.db, late);
  if (cancelled.length > 0) await ctx.queue.publishCancel(cancelled.map(toCancelTarget));
}

async function recordLogs(ctx: CoreContext, logs: Of<'log'>[]): Promise<void> {
  await insertRunLogs(
    ctx.db,
    // the time the worker read the line (issue 18 item 19); a worker that does not say: the time it is written
    logs.map((l) => ({ runId: l.runId, attempt: l.attempt, seq: l.seq, stream: l.stream, chunk: l.chunk, at: l.at !== undefined && !Number.isNaN(Date.parse(l.at)) ? l.at : null })),
    new Date(ctx.now()),
  );
}

/**
 * Decides workers' claims for brokers that cannot (rabbitmq): an attempt is granted to the first worker that
 * asks while it is still waiting, and again to that same worker only (a retried request after a lost answer).
 */
export async function decideClaims(ctx: CoreContext, claims: Claim[]): Promise<boolean[]> {
  // A claim that names no possible attempt, or the claimant of refused messages, is answered no without a
  // query: a malformed claim must not fail the whole batch (the claims server would ask again for ever).
  const refused = claims.filter((c) => c.workerId === REJECTED_CLAIMANT);
  if (refused.length > 0) {
    await setAside(ctx, refused.map((c) => ({ source: 'run' as const, kind: 'run message', runId: c.runId, reason: 'refused by a worker: the run message is not signed by this installation', payload: JSON.stringify(c) })));
  }
  const askable = claims.filter((c) => c.workerId !== REJECTED_CLAIMANT && RUN_ID_RE.test(c.runId) && c.attempt >= 1 && c.attempt <= INT4_MAX);
  if (askable.length === 0) return claims.map(() => false);
  // rows are locked in id order, the one lock order of hg_runs (outcomes.ts)
  const rows = await grantClaims(ctx.db, askable, new Date(ctx.now()));
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
