import { existsSync, readFileSync } from 'node:fs';
import type pg from 'pg';
import type { Suspension } from './faults.ts';

/**
 * The invariants the first chaos suite could not see (issue 12 §4):
 * - unexpectedRetries: an attempt that finished its work (a "done" line in the journal) recorded as
 *   failed, timed out or cancelled, although its worker was never killed (only a worker declared dead
 *   after a kill -9 excuses that): a successful execution recorded as failed, and run again.
 * - dependantsLost: an upstream fire whose every shard succeeded without a run of its dependant.
 * - abandoned (counted as lost): a run ended `cancelled` though nobody cancelled anything (a drain gave
 *   it up for good, where kill -9 would have retried it).
 * - firedWhileSuspended: a scheduled run executed for a slot well inside a window in which its task was
 *   suspended (a resume taken for downtime).
 */
export interface OutcomeCheck {
  unexpectedRetries: number;
  dependantsLost: number;
  abandoned: number;
  firedWhileSuspended: number;
  examples: string[];
}

export interface OutcomeInput {
  sql: pg.Client;
  journal: string;
  killedWorkers: Set<string>;
  /** upstream task id -> dependant task id */
  dependants: Map<string, string>;
  suspensions: Suspension[];
}

const EXAMPLES = 5;
/** slack around a suspension: the suspend and resume requests take a moment to reach the leader */
export const SUSPENSION_SLACK_MS = 1500;

export async function checkOutcomes(input: OutcomeInput): Promise<OutcomeCheck> {
  const { sql } = input;
  const out: OutcomeCheck = { unexpectedRetries: 0, dependantsLost: 0, abandoned: 0, firedWhileSuspended: 0, examples: [] };
  const add = (kind: Exclude<keyof OutcomeCheck, 'examples'>, rows: unknown[], what: string) => {
    if (rows.length === 0) return;
    out[kind] += rows.length;
    out.examples.push(`${kind}: ${rows.length} ${what}: ${JSON.stringify(rows.slice(0, EXAMPLES))}`);
  };

  const done = readDone(input.journal);
  if (done.size > 0) {
    const { rows } = await sql.query<{ key: string; status: string; worker_id: string | null; error: string | null }>(
      `SELECT id::text || '/' || attempt::text AS key, status, worker_id, error FROM hg_runs
        WHERE status IN ('failed', 'timed_out', 'cancelled') AND (id::text || '/' || attempt::text) = ANY($1::text[])`,
      [[...done]],
    );
    add('unexpectedRetries', rows.filter((r) => !r.worker_id || !input.killedWorkers.has(r.worker_id)), 'successful executions (journal "done") recorded as failed, their worker never killed');
  }

  for (const [upstream, dependant] of input.dependants) {
    const { rows } = await sql.query<{ scheduled_time: Date }>(
      `WITH final AS (
         SELECT DISTINCT ON (shard, scheduled_time) scheduled_time, shard, shard_total, status
           FROM hg_runs WHERE task_id = $1 ORDER BY shard, scheduled_time, attempt DESC
       ), fires AS (
         SELECT scheduled_time FROM final GROUP BY scheduled_time
         HAVING count(*) = max(shard_total) AND bool_and(status = 'succeeded')
       )
       SELECT f.scheduled_time FROM fires f
        WHERE NOT EXISTS (SELECT 1 FROM hg_runs d WHERE d.task_id = $2 AND d.scheduled_time = f.scheduled_time)
        ORDER BY 1`,
      [upstream, dependant],
    );
    add('dependantsLost', rows.map((r) => `${upstream}@${r.scheduled_time.toISOString()}`), 'upstream fires whose every shard succeeded, without a dependant run');
  }

  const { rows: cancelled } = await sql.query(`SELECT id, task_id, attempt, worker_id, error FROM hg_runs WHERE status = 'cancelled' ORDER BY id`);
  add('abandoned', cancelled, 'runs cancelled though nobody cancelled anything');

  for (const window of input.suspensions) {
    const { rows } = await sql.query(
      `SELECT id, task_id, scheduled_time, status FROM hg_runs
        WHERE task_id = $1 AND trigger = 'schedule' AND attempt = 1 AND status NOT IN ('missed', 'skipped')
          AND scheduled_time > $2 AND scheduled_time < $3`,
      [window.taskId, new Date(window.from + SUSPENSION_SLACK_MS), new Date(window.to - SUSPENSION_SLACK_MS)],
    );
    add('firedWhileSuspended', rows, `runs of slots while ${window.taskId} was suspended`);
  }
  return out;
}

/** "runId/attempt" of every journal "done" line: the shell task finished its work */
function readDone(file: string): Set<string> {
  const done = new Set<string>();
  if (!existsSync(file)) return done;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const key = /^done (\d+\/\d+)( |$)/.exec(line)?.[1];
    if (key) done.add(key);
  }
  return done;
}
