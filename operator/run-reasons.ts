import type { RunChange } from '../core/store/index.ts';

/**
 * Why a run was skipped or missed, as a stable code (the sim helper's RunReason: ConcurrencyForbid,
 * DependencyNotMet, StartingDeadlineExceeded, MissedDuringDowntime, ...). The run's own `reason` column is
 * used when the database has it; older rows (and databases before that migration) only carry the
 * sentence in `error`, from which the code is derived here. Once every run has a code, drop the fallback.
 */
export function runReasonCode(run: Pick<RunChange, 'status' | 'error' | 'reason'>): string {
  if (run.reason) return run.reason;
  const text = run.error ?? '';
  if (/concurrencyPolicy Forbid/.test(text)) return 'ConcurrencyForbid';
  if (/dependsOn|dependency/.test(text)) return 'DependencyNotMet';
  if (/startingDeadlineSeconds/.test(text)) return 'StartingDeadlineExceeded';
  if (/downtime/.test(text)) return 'MissedDuringDowntime';
  if (/suspend/i.test(text)) return 'Suspended';
  return run.status === 'skipped' ? 'Skipped' : 'MissSchedule';
}

/** A sentence per code that carries no time or run id, so repeated Events aggregate into one with a count. */
export const REASON_MESSAGES: Record<string, string> = {
  ConcurrencyForbid: 'Not starting a run: a previous run is still active and concurrencyPolicy is Forbid',
  DependencyNotMet: 'Not starting a run: a task in dependsOn has not succeeded',
  StartingDeadlineExceeded: 'Missed a scheduled time: it was later than startingDeadlineSeconds allows',
  MissedDuringDowntime: 'Missed a scheduled time while no dispatcher was running (see spec.catchUp)',
  Suspended: 'Not starting a run: the task is suspended',
  Skipped: 'Not starting a run',
  MissSchedule: 'Missed scheduled time to start a run',
};
