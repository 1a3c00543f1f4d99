import type { RunChange } from '../core/dispatch/kubernetes-tasks.ts';
import { runPhase } from './task-status.ts';

export interface EventSpec {
  type: 'Normal' | 'Warning';
  /** the CronJob controller's vocabulary where it has a word for it */
  reason: string;
  message: string;
}

/** more missed slots than this for one task in one poll become a single TooManyMissedTimes event */
export const TOO_MANY_MISSED = 10;

const at = (date: Date) => date.toISOString();

/**
 * The Events a batch of run changes deserves, per ScheduledTask key ("namespace/name"). Shards of one fire
 * are one event; a burst of missed slots (after downtime) is one TooManyMissedTimes, as CronJob does.
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
      events.push({
        type: 'Warning',
        reason: 'TooManyMissedTimes',
        message: `${missed.length} missed start times (${at(missed[0]!.scheduledTime)} .. ${at(missed[missed.length - 1]!.scheduledTime)}); set or raise spec.startingDeadlineSeconds, or check the dispatcher`,
      });
    } else {
      for (const run of missed) events.push({ type: 'Warning', reason: 'MissSchedule', message: `Missed scheduled time to start a run: ${at(run.scheduledTime)}${run.error ? ` (${run.error})` : ''}` });
    }
    const fires = new Map<string, RunChange[]>();
    for (const run of runs) {
      if (!run.created || run.status === 'missed') continue;
      const fire = `${run.trigger}|${at(run.scheduledTime)}|${run.status === 'skipped'}`;
      fires.set(fire, [...(fires.get(fire) ?? []), run]);
    }
    for (const shards of fires.values()) events.push(createdEvent(shards));
    for (const run of runs) {
      if (!run.finished || run.status === 'missed' || run.status === 'skipped') continue;
      const failed = run.status === 'failed' || run.status === 'timed_out';
      events.push({
        type: failed ? 'Warning' : 'Normal',
        reason: 'SawCompletedJob',
        message: `Saw completed run: ${run.id}, status: ${runPhase(run.status)}${failed && run.error ? ` (${run.error})` : ''}`,
      });
    }
    if (events.length > 0) out.set(key, events);
  }
  return out;
}

function createdEvent(shards: RunChange[]): EventSpec {
  const first = shards[0]!;
  const ids = shards.map((r) => r.id).join(', ');
  if (first.status === 'skipped') {
    return { type: 'Normal', reason: 'JobAlreadyActive', message: `Not starting a run for ${at(first.scheduledTime)}: a previous run is still active and concurrencyPolicy is Forbid` };
  }
  const what = shards.length > 1 ? `runs ${ids} (${shards.length} shards)` : `run ${ids}`;
  const why = first.trigger === 'schedule' ? `for ${at(first.scheduledTime)}` : first.trigger === 'manual' ? '(manual trigger)' : first.trigger === 'retry' ? '(retry)' : '(dependencies succeeded)';
  return { type: 'Normal', reason: 'SuccessfulCreate', message: `Created ${what} ${why}` };
}
