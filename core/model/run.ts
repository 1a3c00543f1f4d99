import { z } from 'zod';

export const RUN_STATUSES = ['pending', 'queued', 'running', 'succeeded', 'failed', 'timed_out', 'cancelled', 'missed', 'skipped'] as const;
export const RunStatus = z.enum(RUN_STATUSES);
export type RunStatus = z.infer<typeof RunStatus>;

export const TERMINAL_STATUSES: ReadonlySet<RunStatus> = new Set(['succeeded', 'failed', 'timed_out', 'cancelled', 'missed', 'skipped']);
export const ACTIVE_STATUSES: ReadonlySet<RunStatus> = new Set(['pending', 'queued', 'running']);
/** Outcomes of an attempt that ran; only these may lead to a retry. */
export const RETRYABLE_OUTCOMES: ReadonlySet<RunStatus> = new Set(['failed', 'timed_out']);

export const RunTrigger = z.enum(['schedule', 'manual', 'retry', 'dependency']);
export type RunTrigger = z.infer<typeof RunTrigger>;

/**
 * Why a run ended without running (missed, skipped, cancelled), as a stable code: the operator's Events
 * and API clients match on it; `error` keeps the sentence for people.
 */
export const RUN_REASONS = [
  'ConcurrencyForbid',
  'DependencyNotMet',
  'Suspended',
  'StartingDeadlineExceeded',
  'MissedDuringDowntime',
  'CatchUpLatest',
  'Replaced',
  'TaskDeleted',
  'Cancelled',
] as const;
export const RunReason = z.enum(RUN_REASONS);
export type RunReason = z.infer<typeof RunReason>;

export const Run = z.object({
  id: z.string(),
  taskId: z.string(),
  taskName: z.string(),
  attempt: z.number().int(),
  shard: z.number().int(),
  shardTotal: z.number().int(),
  scheduledTime: z.string(),
  trigger: RunTrigger,
  status: RunStatus,
  pool: z.string(),
  priority: z.number().int(),
  workerId: z.string().nullable(),
  queuedAt: z.string().nullable(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  durationMs: z.number().nullable(),
  exitCode: z.number().int().nullable(),
  httpStatus: z.number().int().nullable(),
  error: z.string().nullable(),
  /** set when the run was missed, skipped or cancelled: why, as a code */
  reason: RunReason.nullable(),
  output: z.string().nullable(),
});
export type Run = z.infer<typeof Run>;
