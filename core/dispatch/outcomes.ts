import { RETRYABLE_OUTCOMES, type Task } from '../model/index.ts';
import type { CancelTarget, FinishedStatus } from '../queue/port.ts';
import { retryDelayMs } from '../schedule/index.ts';
import { keepOutputOfCancelledRuns, liveTasksById, lockRunsInIdOrder, notify, type Queryable, reachRunsByIndex, type SettledAttemptRow, settleAttempts } from '../store/index.ts';
import { decideDependants } from './dependants.ts';
import type { CoreContext } from './context.ts';
import { handOffCreated, insertRequestedRuns, type CreatedRun, type RunRequest } from './enqueue.ts';

/** The leader LISTENs here to arm a timer for a retry's backoff; the payload is the due time in ms. */
export const RETRY_SCHEDULED_CHANNEL = 'hg_retry_scheduled';

export interface AttemptOutcome {
  runId: string;
  attempt: number;
  status: FinishedStatus;
  at: Date;
  /** when the attempt started, if the core learns it only now (a `started` event in the same batch) */
  startedAt?: Date | null;
  workerId?: string | null;
  exitCode?: number | null;
  httpStatus?: number | null;
  error?: string | null;
  output?: string | null;
  /** false: the attempt failed in a way another attempt cannot fix (invalid spec, unknown type): no retry */
  retryable?: boolean;
  /** the core fails this attempt on the worker's behalf (declared dead, claim abandoned): a late outcome is reconciled */
  byCore?: boolean;
  /** settle only while the attempt is still held by this worker (the core's own decisions race with claims) */
  expectWorkerId?: string | null;
}

/** a retry is never scheduled further out than this, whatever the backoff says (1e308 seconds included) */
const MAX_RETRY_DELAY_MS = 365 * 86_400_000;

/** an attempt as the statement that settled it returns it (one shape for outcomes and late outcomes) */
export type FinishedRow = SettledAttemptRow;

/**
 * Records the outcome of attempts (from workers, or from the reaper for dead workers) and schedules what
 * follows: a retry with backoff while the task's limit allows, dependants once their dependencies succeeded.
 * An outcome for an attempt that is already terminal is ignored, so replays are harmless.
 */
export async function finishAttempts(ctx: CoreContext, outcomes: AttemptOutcome[]): Promise<void> {
  if (outcomes.length === 0) return;
  // The outcome and what follows from it commit together: were the retry written apart, a crash between
  // the two would leave a failed attempt whose replayed outcome no longer matches, and no retry, for ever.
  let cancelled: CancelTarget[] = [];
  const created = await ctx.db.transaction(async (tx) => {
    // Rows are locked in id order first: every writer of hg_runs that locks several rows does so in id
    // order, so two of them can never wait on each other (issue 12, defect 15).
    await ctx.fence?.(tx);
    await reachRunsByIndex(tx);
    await lockRunsInIdOrder(tx, outcomes.map((o) => o.runId));
    const rows: FinishedRow[] = await settleAttempts(tx, [
      ...outcomeColumns(outcomes),
      outcomes.map((o) => o.startedAt?.toISOString() ?? null),
      outcomes.map((o) => o.byCore === true),
      outcomes.map((o) => o.expectWorkerId ?? null),
    ]);
    // only an attempt this did not settle can have been cancelled before its report
    const settled = new Set(rows.map((row) => `${row.id}/${row.attempt}`));
    await keepOutputOfCancelled(tx, outcomes.filter((o) => !settled.has(`${o.runId}/${o.attempt}`)));
    // an attempt that failed in a way another attempt cannot fix is final: no retry (its dependants do not care)
    const final = new Set(outcomes.filter((o) => o.retryable === false).map((o) => `${o.runId}/${o.attempt}`));
    const next = await followUps(ctx, tx, rows.filter((row) => !final.has(`${row.id}/${row.attempt}`)));
    cancelled = next.cancelled;
    return next.created;
  });
  // a dependant's run replaced under concurrencyPolicy Replace is told to its worker once that is durable
  if (cancelled.length > 0) await ctx.queue.publishCancel(cancelled).catch((error: Error) => ctx.logger.warn({ err: error.message }, 'telling workers of replaced runs failed'));
  await handOffCreated(ctx, created);
}

/**
 * A run cancelled through the API is terminal before its worker reports; the worker's report of the attempt
 * still brings what the run printed (issue 18 item 2: every terminal state keeps the output).
 */
export async function keepOutputOfCancelled(tx: Queryable, outcomes: AttemptOutcome[]): Promise<void> {
  const reports = outcomes.filter((o) => o.output !== undefined && o.output !== null);
  if (reports.length === 0) return;
  await keepOutputOfCancelledRuns(tx, reports);
}

/** The columns every outcome update writes, as the first nine unnest arrays: id, attempt, status, at, worker, exit code, HTTP status, error, output. */
export function outcomeColumns(outcomes: AttemptOutcome[]): unknown[][] {
  return [
    outcomes.map((o) => o.runId),
    outcomes.map((o) => o.attempt),
    outcomes.map((o) => o.status),
    outcomes.map((o) => o.at.toISOString()),
    outcomes.map((o) => o.workerId ?? null),
    outcomes.map((o) => o.exitCode ?? null),
    outcomes.map((o) => o.httpStatus ?? null),
    outcomes.map((o) => o.error ?? null),
    outcomes.map((o) => o.output ?? null),
  ];
}

/**
 * What follows from attempts that just finished: retries of failed ones, dependants of succeeded ones (and
 * the runs a dependant's Replace cancelled, for the caller to tell workers once this commits).
 */
export async function followUps(
  ctx: CoreContext,
  tx: Queryable,
  rows: FinishedRow[],
  options: { retry: boolean } = { retry: true },
): Promise<{ created: CreatedRun[]; cancelled: CancelTarget[] }> {
  const retryable = options.retry ? rows.filter((row) => RETRYABLE_OUTCOMES.has(row.status)) : [];
  const succeeded = rows.filter((row) => row.status === 'succeeded');
  if (retryable.length === 0 && succeeded.length === 0) return { created: [], cancelled: [] };
  const retries = retryRequests(ctx, retryable, await liveTasksById(tx, [...new Set(retryable.map((r) => r.task_id))]));
  const dependants = succeeded.length > 0 ? await decideDependants(ctx, tx, succeeded) : { requests: [], cancelled: [] };
  const inserted = await insertRequestedRuns(ctx, tx, [...retries, ...dependants.requests]);
  const backoffs = inserted.flatMap((run) => (run.notBefore ? [run.notBefore.getTime()] : []));
  if (backoffs.length > 0) await notify(tx, RETRY_SCHEDULED_CHANNEL, String(Math.min(...backoffs)));
  return { created: inserted, cancelled: dependants.cancelled };
}

function retryRequests(ctx: CoreContext, rows: FinishedRow[], tasks: Map<string, Task>): RunRequest[] {
  const requests: RunRequest[] = [];
  for (const row of rows) {
    const task = tasks.get(row.task_id);
    if (!task || row.attempt > task.spec.retry.limit) continue;
    requests.push({
      task,
      scheduledTime: new Date(row.scheduled_time),
      shard: row.shard,
      attempt: row.attempt + 1,
      trigger: 'retry',
      notBefore: new Date(ctx.now() + boundedDelay(retryDelayMs(task.spec.retry.backoff, row.attempt))),
    });
  }
  return requests;
}

/** A backoff that is not a finite, sane number of ms must not make an invalid date (issue 13, item 3). */
function boundedDelay(ms: number): number {
  return Number.isFinite(ms) ? Math.min(Math.max(0, ms), MAX_RETRY_DELAY_MS) : MAX_RETRY_DELAY_MS;
}
