import type { RunChange } from '../core/store/index.ts';
import { REASON_MESSAGES, runReasonCode } from './run-reasons.ts';
import { runPhase } from './task-status.ts';

export interface EventSpec {
  type: 'Normal' | 'Warning';
  /** the CronJob controller's vocabulary where it has a word for it */
  reason: string;
  message: string;
}

/** more missed slots than this for one task in one poll become a single TooManyMissedTimes event */
export const TOO_MANY_MISSED = 10;

/**
 * The Events a batch of run changes deserves, per ScheduledTask key ("namespace/name"). Messages carry no
 * time and no run id, so the recorder folds repeats into one Event with a count, as the Kubernetes event
 * recorder does (the runs themselves: `kubectl hourglass runs st/NAME`). Shards of one fire are one event;
 * a skipped or missed slot is reported under its reason code; a burst of missed slots (after downtime)
 * is one TooManyMissedTimes, as CronJob does.
 */
export function eventsForRunChanges(changes: RunChange[]): Map<string, EventSpec[]> {
  const byTask = new Map<string, RunChange[]>();
  for (const change of changes) {
    const key = `${change.namespace}/${change.name}`;
    byTask.set(key, [...(byTask.get(key) ?? []), change]);
  }
  const out = new Map<string, EventSpec[]>();
  for (const [key, runs] of byTask) {
    const events: EventSpec[] = [];
    const missed = runs.filter((r) => r.created && r.status === 'missed');
    if (missed.length > TOO_MANY_MISSED) {
      events.push({ type: 'Warning', reason: 'TooManyMissedTimes', message: 'Too many missed start times; set or raise spec.startingDeadlineSeconds, or check the dispatcher' });
    } else {
      for (const run of missed) events.push(notStarted(run));
    }
    const fires = new Map<string, RunChange[]>();
    for (const run of runs) {
      if (!run.created || run.status === 'missed') continue;
      if (run.status === 'skipped') {
        events.push(notStarted(run));
        continue;
      }
      const fire = `${run.trigger}|${run.scheduledTime.toISOString()}`;
      fires.set(fire, [...(fires.get(fire) ?? []), run]);
    }
    for (const shards of fires.values()) events.push(createdEvent(shards));
    for (const run of runs) {
      if (!run.finished || run.status === 'missed' || run.status === 'skipped') continue;
      const failed = run.status === 'failed' || run.status === 'timed_out';
      events.push({ type: failed ? 'Warning' : 'Normal', reason: 'SawCompletedJob', message: `Saw completed run, status: ${runPhase(run.status)}` });
    }
    if (events.length > 0) out.set(key, events);
  }
  return out;
}

function notStarted(run: RunChange): EventSpec {
  const code = runReasonCode(run);
  return { type: run.status === 'missed' ? 'Warning' : 'Normal', reason: code, message: REASON_MESSAGES[code] ?? 'Not starting a run' };
}

function createdEvent(shards: RunChange[]): EventSpec {
  const first = shards[0]!;
  const what = shards.length > 1 ? `Created a run of ${shards.length} shards` : 'Created a run';
  const why = first.trigger === 'schedule' ? 'on schedule' : first.trigger === 'manual' ? '(manual trigger)' : first.trigger === 'retry' ? '(retry)' : '(dependencies succeeded)';
  return { type: 'Normal', reason: 'SuccessfulCreate', message: `${what} ${why}` };
}
