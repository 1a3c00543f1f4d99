-- Hourglass schema, version 10: a run's spec is stored once per distinct spec, not once per run (issue 15).
-- Each run used to carry a copy of its task's spec (hg_runs.spec, version 5): about 80% of the row, written
-- again by every change of the run's status. Now the run names the spec by its SHA-256 (spec_digest) and the
-- spec itself lives in hg_run_specs, written once per edit of a task. The digest is of the jsonb's text,
-- which is canonical, so equal specs share a row; SHA-256 so no one can make their spec pass for another's.
-- Runs made before this migration keep their inline spec; readers take spec_digest's, then spec, then the
-- task's current one.
CREATE TABLE hg_run_specs (
  digest     bytea PRIMARY KEY,
  spec       jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE hg_runs ADD COLUMN spec_digest bytea;

-- insertRuns (core/store/runs.ts) stores the spec and its digest in the statement that inserts the runs;
-- any other insert of a waiting run still gets one, as before.
CREATE OR REPLACE FUNCTION hg_runs_capture_spec() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.spec IS NULL AND NEW.spec_digest IS NULL AND NEW.status IN ('pending', 'queued') THEN
    NEW.spec := (SELECT spec FROM hg_tasks WHERE id = NEW.task_id);
  END IF;
  RETURN NEW;
END
$$;

-- The planner's idea of how many runs are queued or running comes from statistics. With the default
-- thresholds a table of 10 million finished runs is analyzed after a million changes, so a backlog of
-- 20,000 stays invisible to it for as long as it lasts, and plans made for "1 row" walk all of it. Analyze
-- after every 5,000 changed rows instead: on a table that size ANALYZE samples 30,000 rows, a fraction
-- of a second, at most once per autovacuum_naptime.
ALTER TABLE hg_runs SET (autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 5000);

-- The postgres queue's dequeue: the claim and the receive in one statement (core/queue/postgres.ts).
-- Until those statistics catch up, the planner may take another status index (hg_runs_active) and sort
-- every queued run to hand out 50; with sorting off inside this function only hg_runs_queue can give the
-- order asked for, so it walks that index from its head whatever the statistics say.
CREATE FUNCTION hg_dequeue(p_pool text, p_max integer, p_worker text)
RETURNS TABLE (id text, attempt integer, task_id text, name text, pool text, priority integer, spec jsonb, shard integer, shard_total integer, scheduled_time timestamptz)
LANGUAGE sql SET enable_sort = off AS $$
  WITH picked AS (
    SELECT q.id FROM hg_runs q WHERE q.status = 'queued' AND q.pool = p_pool ORDER BY q.priority DESC, q.id LIMIT p_max FOR UPDATE SKIP LOCKED)
  UPDATE hg_runs r SET status = 'running', worker_id = p_worker, started_at = now()
    FROM picked, hg_tasks t WHERE r.id = picked.id AND t.id = r.task_id
  RETURNING r.id::text, r.attempt, r.task_id::text, t.name, r.pool, r.priority,
            COALESCE((SELECT s.spec FROM hg_run_specs s WHERE s.digest = r.spec_digest), r.spec, t.spec), r.shard, r.shard_total, r.scheduled_time
$$;
