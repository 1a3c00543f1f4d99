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
