import type pg from 'pg';
import type { FaultCounts } from './faults.ts';
import { OTHER_POOL, type Topology } from './topology.ts';

/**
 * The faults of issue 12 §4, which the first chaos suite never produced: a host that vanishes without
 * closing its sockets, outcomes held back while heartbeats flow, a rolling drain over long runs, and
 * suspend/resume and pool changes under load.
 */

type Note = (what: string) => void;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function pickSome<T>(items: readonly T[], count: number, random: () => number): T[] {
  const pool = [...items];
  const out: T[] = [];
  while (out.length < count && pool.length > 0) out.push(...pool.splice(Math.floor(random() * pool.length), 1));
  return out;
}

/**
 * The leader's host vanishes for `vanishMs`: its database and broker connections, open and new, carry
 * nothing. Measures how long until every task that was firing fires again (its share of the fire
 * partitions moved to the other dispatchers), then brings the host back: the old leader wakes up and must not act on its old term.
 */
export async function vanishLeaderHost(topo: Topology, counts: FaultCounts, sql: pg.Client, vanishMs: number, note: Note): Promise<boolean> {
  const leader = topo.leader;
  if (!leader) return false;
  const name = `${leader.slot}-${leader.generation}`;
  topo.vanishHost(leader);
  const vanishedAt = Date.now();
  counts.cuts++;
  // taken after the host went silent: nothing the old leader began can commit after this instant
  const { rows } = await sql.query<{ at: Date }>('SELECT now() AS at');
  const mark = rows[0]?.at as Date;
  note(`host of ${name} (leader) vanishes for ${vanishMs} ms`);
  // Every dispatcher fires its own share of the tasks (fire partitions): recovered once every '@every 1s'
  // task that was firing has fired again, the vanished host's share included (one still schedulable now)
  const { rows: firing } = await sql.query<{ id: string }>(
    `SELECT DISTINCT r.task_id::text AS id FROM hg_runs r JOIN hg_tasks t ON t.id = r.task_id
      WHERE r.trigger = 'schedule' AND r.created_at BETWEEN $1::timestamptz - interval '3 seconds' AND $1 AND t.spec ->> 'schedule' = '@every 1s'`,
    [mark],
  );
  let recoveredMs: number | undefined;
  while (Date.now() - vanishedAt < vanishMs) {
    if (recoveredMs === undefined) {
      const { rows: waiting } = await sql.query(
        `SELECT 1 FROM hg_tasks t WHERE t.id = ANY($2::uuid[]) AND t.deleted_at IS NULL AND NOT COALESCE((t.spec ->> 'suspend')::boolean, false)
            AND NOT EXISTS (SELECT 1 FROM hg_runs r WHERE r.task_id = t.id AND r.trigger = 'schedule' AND r.created_at > $1) LIMIT 1`,
        [mark, firing.map((f) => f.id)],
      );
      if (firing.length > 0 && waiting.length === 0) {
        recoveredMs = Date.now() - vanishedAt;
        note(`every task that was firing (${firing.length}) fired again ${recoveredMs} ms after the leader's host vanished`);
      }
    }
    await sleep(recoveredMs === undefined ? 100 : 500);
  }
  counts.leaderRecoveriesMs.push(recoveredMs ?? vanishMs);
  topo.restoreHost(leader);
  note(`host of ${name} is back`);
  return true;
}

/**
 * A standby's host vanishes: status batches it had read stay with it, unacknowledged, while the workers'
 * heartbeats keep reaching the other dispatchers; the outcomes arrive late, behind those heartbeats.
 */
export async function vanishStandbyHost(topo: Topology, counts: FaultCounts, holdMs: number, random: () => number, note: Note): Promise<boolean> {
  const standbys = topo.of('dispatcher').filter((m) => !m.leading && !m.proc.exited && m.ready);
  const target = pickSome(standbys, 1, random)[0];
  if (!target) return false;
  topo.vanishHost(target);
  counts.cuts++;
  note(`host of ${target.slot}-${target.generation} (standby) vanishes for ${holdMs} ms`);
  await sleep(holdMs);
  topo.restoreHost(target);
  note(`host of ${target.slot}-${target.generation} is back`);
  return true;
}

/**
 * A worker's host vanishes for longer than worker_timeout: it is declared dead and its attempts are failed
 * and retried while it may still be running them (what the design allows a dead worker), then it comes back.
 */
export async function vanishWorkerHost(topo: Topology, counts: FaultCounts, holdMs: number, random: () => number, note: Note): Promise<boolean> {
  const target = pickSome(topo.of('worker').filter((m) => m.slot !== 'wb' && !m.proc.exited && m.ready), 1, random)[0];
  if (!target) return false;
  counts.killedWorkers.add(`${target.slot}-${target.generation}`);
  topo.vanishHost(target);
  counts.cuts++;
  note(`host of ${target.slot}-${target.generation} (worker) vanishes for ${holdMs} ms`);
  await sleep(holdMs);
  topo.restoreHost(target);
  note(`host of ${target.slot}-${target.generation} is back`);
  return true;
}

/** workers a rolling drain goes through: enough to catch long runs, few enough to keep the CI form short */
const ROLLING_DRAIN_WORKERS = 2;

/**
 * A rolling update of the workers: each in turn gets SIGTERM (it drains; runs longer than the drain timeout
 * are interrupted) and the next one waits for its replacement to be up.
 */
export async function rollingDrain(topo: Topology, counts: FaultCounts, note: Note): Promise<boolean> {
  const workers = topo.of('worker').filter((m) => m.slot !== 'wb' && !m.proc.exited).slice(0, ROLLING_DRAIN_WORKERS);
  if (workers.length === 0) return false;
  note(`rolling drain of ${workers.map((m) => `${m.slot}-${m.generation}`).join(', ')}`);
  for (const worker of workers) {
    await topo.stop(worker, 'SIGTERM');
    counts.kills++;
    await topo.restart(worker);
  }
  note('rolling drain done');
  return true;
}

async function send(topo: Topology, method: 'POST' | 'PATCH', path: string, body?: unknown): Promise<number> {
  const response = await fetch(new URL(path, topo.apiUrl), {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(10_000),
  }).catch(() => undefined);
  await response?.arrayBuffer();
  return response?.status ?? 0;
}

/** until the API says 200 (the undo of a fault must happen, even through a slow moment) */
async function insist(topo: Topology, method: 'POST' | 'PATCH', path: string, body?: unknown): Promise<boolean> {
  for (let attempt = 0; attempt < 20; attempt++) {
    if ((await send(topo, method, path, body)) === 200) return true;
    await sleep(500);
  }
  return false;
}

/** Two tasks are suspended through the API for a while, then resumed; the windows go to the invariants. */
export async function suspendResume(topo: Topology, counts: FaultCounts, movable: string[], holdMs: number, random: () => number, note: Note): Promise<boolean> {
  const tasks = pickSome(movable, 2, random);
  const from = new Map<string, number>();
  for (const taskId of tasks) {
    const at = Date.now();
    if ((await send(topo, 'POST', `/api/tasks/${taskId}/suspend`)) === 200) from.set(taskId, at);
  }
  if (from.size === 0) return false;
  note(`suspend ${[...from.keys()].join(', ')} for ${holdMs} ms`);
  await sleep(holdMs);
  for (const [taskId, at] of from) {
    const resumed = await insist(topo, 'POST', `/api/tasks/${taskId}/resume`);
    counts.suspensions.push({ taskId, from: at, to: Date.now() });
    if (!resumed) note(`resume of ${taskId} was refused 20 times; the task stays suspended`);
  }
  note('resumed');
  return true;
}

/** Two tasks move to the other pool (served by worker wb) while their runs are queued and running, then back. */
export async function changePool(topo: Topology, movable: string[], holdMs: number, random: () => number, note: Note): Promise<boolean> {
  const moved: string[] = [];
  for (const taskId of pickSome(movable, 2, random)) {
    if ((await send(topo, 'PATCH', `/api/tasks/${taskId}`, { pool: OTHER_POOL })) === 200) moved.push(taskId);
  }
  if (moved.length === 0) return false;
  note(`pool of ${moved.join(', ')} -> ${OTHER_POOL} for ${holdMs} ms`);
  await sleep(holdMs);
  for (const taskId of moved) {
    if (!(await insist(topo, 'PATCH', `/api/tasks/${taskId}`, { pool: null }))) note(`moving ${taskId} back was refused 20 times`);
  }
  note('pools restored');
  return true;
}
