import type { Queryable } from './db.ts';

/** Moves each task's last_scheduled_time forward to the given time (never back). */
export async function advanceLastScheduledTimes(tx: Queryable, advance: Map<string, Date>): Promise<void> {
  await tx.query(
    `UPDATE hg_tasks t SET last_scheduled_time = GREATEST(COALESCE(t.last_scheduled_time, u.at), u.at)
       FROM unnest($1::uuid[], $2::timestamptz[]) AS u(id, at) WHERE t.id = u.id`,
    [[...advance.keys()], [...advance.values()].map((d) => d.toISOString())],
  );
}
