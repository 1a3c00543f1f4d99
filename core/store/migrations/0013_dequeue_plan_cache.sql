-- Hourglass schema, version 13: the postgres queue's dequeue keeps its plan between calls (issue 15).
-- hg_dequeue (migration 0010) was a LANGUAGE sql function. Postgres plans such a function's statement again
-- at every call (it is not inlined: it modifies rows and sets enable_sort), and for an UPDATE of hg_runs, with
-- its ten indexes, that planning cost as much as the claim itself: a dequeue of 50 took twice as long as
-- the same statement sent alone. PL/pgSQL keeps a session's plan of the statement, so a worker's connection
-- plans it a few times and then reuses it. Same arguments, same result, same plan (sorting off, so only
-- hg_runs_queue gives the order asked for; test/integration/run-path-plans.test.ts checks it).
CREATE OR REPLACE FUNCTION hg_dequeue(p_pool text, p_max integer, p_worker text)
RETURNS TABLE (id text, attempt integer, task_id text, name text, pool text, priority integer, spec jsonb, shard integer, shard_total integer, scheduled_time timestamptz)
LANGUAGE plpgsql SET enable_sort = off AS $$
BEGIN
  RETURN QUERY
    WITH picked AS (
      SELECT q.id FROM hg_runs q WHERE q.status = 'queued' AND q.pool = p_pool ORDER BY q.priority DESC, q.id LIMIT p_max FOR UPDATE SKIP LOCKED)
    UPDATE hg_runs r SET status = 'running', worker_id = p_worker, started_at = now()
      FROM picked, hg_tasks t WHERE r.id = picked.id AND t.id = r.task_id
    RETURNING r.id::text, r.attempt, r.task_id::text, t.name, r.pool, r.priority,
              COALESCE((SELECT s.spec FROM hg_run_specs s WHERE s.digest = r.spec_digest), r.spec, t.spec), r.shard, r.shard_total, r.scheduled_time;
END
$$;
