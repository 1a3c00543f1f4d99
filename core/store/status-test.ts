import { RUN_STATUSES, type RunStatus } from '../model/index.ts';

/**
 * `<alias>.status` is one of `statuses`, written as the statuses it is not, for statements that reach runs
 * by their ids (a batch of outcomes, claims, starts, cancels).
 *
 * Why not `status IN (...)`: that lets the planner walk a status index (hg_runs_active, hg_runs_status_id)
 * instead of the ids, on statistics of how many runs are active that go stale within seconds of a backlog
 * forming. It did: settling a batch of 200 outcomes walked all 20,000 queued runs, so the history writer
 * slowed down in proportion to the backlog, just when it mattered (issue 15). `NOT IN` is never an index
 * condition, so these statements find their rows by id, whatever the statistics say.
 */
export function statusAmong(alias: string, statuses: readonly RunStatus[]): string {
  const others = RUN_STATUSES.filter((status) => !statuses.includes(status));
  return `${alias}.status NOT IN (${others.map((status) => `'${status}'`).join(', ')})`;
}

/** not finished: pending, queued or running */
export const ACTIVE = ['pending', 'queued', 'running'] as const satisfies readonly RunStatus[];

/** finished: every status that is not active, in the order of the model */
export const FINISHED = RUN_STATUSES.filter((status) => !(ACTIVE as readonly RunStatus[]).includes(status));

/**
 * `<alias>.status` is finished, spelled as the predicate of the history's list indexes (hg_runs_status_id,
 * hg_runs_pool_id, hg_runs_scheduled: migration 0014), so that the planner can prove it and walk them. The
 * opposite of statusAmong: for lists, which want those indexes.
 */
export function isFinished(alias: string): string {
  return `${alias}.status IN (${FINISHED.map((status) => `'${status}'`).join(', ')})`;
}

/** `<alias>.status` is active, spelled as the predicate of hg_runs_active (migration 0001). */
export function isActive(alias: string): string {
  return `${alias}.status IN (${ACTIVE.map((status) => `'${status}'`).join(', ')})`;
}
