import type { RunStatus, RunTrigger } from '../model/index.ts';
import { ms } from './rows.ts';

/** A run as the operator shows it in a ScheduledTask's status and Events. */
export interface RunSummary {
  id: string;
  status: RunStatus;
  trigger: RunTrigger;
  scheduledTime: Date;
  finishedAt: Date | null;
}

/** A run summary's columns as Postgres returns them (directly or inside json) */
export interface RunSummaryRow {
  id: string;
  status: RunStatus;
  trigger: RunTrigger;
  scheduled_time: string;
  finished_at: string | null;
}

export function toRunSummary(raw: RunSummaryRow): RunSummary {
  return { id: raw.id, status: raw.status, trigger: raw.trigger, scheduledTime: new Date(raw.scheduled_time), finishedAt: toDate(raw.finished_at) };
}

export function toDate(value: unknown): Date | null {
  const at = ms(value);
  return at === null ? null : new Date(at);
}
