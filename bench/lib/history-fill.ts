/**
 * The history the `history` scenario measures against: `runs` finished runs of `tasks` tasks spread over
 * `pools` pools, written straight into hg_runs by set-based INSERT ... SELECT generate_series (no run goes
 * through the queue). Everything that writes the history is in fillHistory, so a change of hg_runs's
 * columns or indexes is adapted here alone.
 *
 * What the rows look like: task n (`hist-0000`..) in pool `pool-(n % pools)`, its runs every `tasks`-th
 * id, scheduled over the last 30 days in id order (the newest a minute ago), 1 in 50 triggered by hand;
 * 96% succeeded, 3% failed (exit code 1, an error), 0.5% timed out and 0.5% cancelled, drawn by a hash of
 * the id, not by the task; queued 5 ms and started 20 ms after their time, running 0.2-30 s; a short
 * output; the task's spec named by digest (hg_run_specs, one row per task) as insertRuns names it on the
 * normal path. The indexes, the
 * foreign key and the logging of the table stay what they are in production: they are part of what the
 * scenario measures, and they are maintained row by row as runs arrive.
 *
 * Speed: `sessions` connections insert chunks of CHUNK ids in turn (ids given explicitly, the sequence
 * moved past them at the end) with session_replication_role = replica, which skips the per-row foreign-key
 * check and the insert trigger (half the time) but not a single index entry; then VACUUM ANALYZE. The rows
 * are ~200 bytes (before migration 0010 each carried a copy of its spec: ~870 bytes, 12 GB for 10M runs).
 */
import pg from 'pg';

export interface HistoryShape {
  runs: number;
  tasks: number;
  pools: number;
  /** parallel INSERT sessions */
  sessions: number;
}

const CHUNK = 250_000;
const SPAN_DAYS = 30;

export function historyShape(quick: boolean): HistoryShape {
  const runs = Number(process.env.BENCH_HISTORY_RUNS ?? (quick ? 20_000 : 10_000_000));
  return { runs, tasks: 1000, pools: 10, sessions: Number(process.env.BENCH_HISTORY_SESSIONS ?? 2) };
}

/** Writes the tasks and the runs into the (migrated, empty) database at `url`; `spec`: a validated task spec to clone. */
export async function fillHistory(url: string, spec: Record<string, unknown>, shape: HistoryShape): Promise<{ insertMs: number; vacuumMs: number }> {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query(
      `INSERT INTO hg_tasks (id, name, spec, created_at, schedule_anchor)
       SELECT gen_random_uuid(), 'hist-' || lpad(n::text, 4, '0'), jsonb_set($1::jsonb, '{pool}', to_jsonb('pool-' || (n % $3))),
              now() - interval '${SPAN_DAYS + 1} days', now() - interval '${SPAN_DAYS + 1} days'
         FROM generate_series(0, $2 - 1) n`,
      [JSON.stringify(spec), shape.tasks, shape.pools],
    );
    await admin.query(
      `INSERT INTO hg_run_specs (digest, spec) SELECT DISTINCT sha256(convert_to(spec::text, 'UTF8')), spec FROM hg_tasks WHERE name LIKE 'hist-%'
       ON CONFLICT (digest) DO NOTHING`,
    );
    const base = Number((await admin.query<{ id: string }>(`SELECT COALESCE(max(id), 0)::text AS id FROM hg_runs`)).rows[0]?.id ?? 0);
    const end = Date.now() - 60_000;
    const stepMs = (SPAN_DAYS * 86_400_000) / shape.runs;
    const started = performance.now();
    const chunks = Array.from({ length: Math.ceil(shape.runs / CHUNK) }, (_, i) => i * CHUNK);
    await Promise.all(
      Array.from({ length: Math.min(shape.sessions, chunks.length) }, async () => {
        const session = new pg.Client({ connectionString: url });
        await session.connect();
        // skips the per-row foreign-key check and the spec-capturing trigger (the rows name their spec and
        // valid task ids by construction); indexes are maintained as ever. Superusers only: else slower.
        await session.query('SET session_replication_role = replica').catch(() => undefined);
        try {
          for (let lo = chunks.shift(); lo !== undefined; lo = chunks.shift()) {
            await session.query(
              `WITH t AS (SELECT row_number() OVER (ORDER BY name) - 1 AS n, id, sha256(convert_to(spec::text, 'UTF8')) AS digest, spec ->> 'pool' AS pool FROM hg_tasks WHERE name LIKE 'hist-%')
               INSERT INTO hg_runs (id, task_id, scheduled_time, attempt, trigger, status, pool, priority, worker_id, created_at,
                                    queued_at, started_at, finished_at, exit_code, error, output, spec_digest)
               SELECT $1 + g, t.id, s.at, 1, CASE WHEN g % 50 = 0 THEN 'manual' ELSE 'schedule' END, s.status, t.pool, 0,
                      'worker-' || lpad((g % 20)::text, 2, '0'), s.at, s.at + interval '5 ms', s.at + interval '20 ms',
                      s.at + interval '20 ms' + s.ms * interval '1 ms',
                      CASE s.status WHEN 'succeeded' THEN 0 WHEN 'failed' THEN 1 END,
                      CASE s.status WHEN 'failed' THEN 'exit code 1' WHEN 'timed_out' THEN 'timed out after 30s' WHEN 'cancelled' THEN 'cancelled by api' END,
                      CASE WHEN s.status = 'succeeded' THEN 'processed ' || (g % 997) || ' items' || chr(10) END,
                      t.digest
                 FROM generate_series($2::bigint, $3::bigint) g
                 JOIN t ON t.n = g % $4
                 CROSS JOIN LATERAL (
                   SELECT to_timestamp(($5::float8 - ($6::bigint - g) * $7::float8) / 1000) AS at,
                          CASE WHEN h < 960 THEN 'succeeded' WHEN h < 990 THEN 'failed' WHEN h < 995 THEN 'timed_out' ELSE 'cancelled' END AS status,
                          200 + abs(hashint8(g + 7)) % 29800 AS ms
                     FROM (SELECT abs(hashint8(g)) % 1000 AS h) x
                 ) s`,
              [base, lo + 1, Math.min(lo + CHUNK, shape.runs), shape.tasks, end, shape.runs, stepMs],
            );
          }
        } finally {
          await session.end();
        }
      }),
    );
    await admin.query(`SELECT setval(pg_get_serial_sequence('hg_runs', 'id'), (SELECT max(id) FROM hg_runs))`);
    const inserted = performance.now();
    await admin.query('VACUUM ANALYZE hg_runs');
    await admin.query('VACUUM ANALYZE hg_tasks');
    return { insertMs: inserted - started, vacuumMs: performance.now() - inserted };
  } finally {
    await admin.end();
  }
}
