-- Hourglass schema, version 5 (queue): dead letters, worker incarnations and clean stops, reaped attempts.

-- A status event (outcome, heartbeat, log) that could not be applied, with why: it is set aside here so that
-- it never blocks the events behind it (issue 13, item 3), and an operator can see what was refused.
CREATE TABLE hg_dead_letters (
  id         bigserial PRIMARY KEY,
  -- what was refused: 'status' (a worker event) or 'run' (a run message a worker would not execute)
  source     text NOT NULL,
  kind       text NOT NULL,
  worker_id  text,
  run_id     text,
  reason     text NOT NULL,
  payload    text NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE INDEX hg_dead_letters_created ON hg_dead_letters (created_at);

-- The process behind a worker id (a random id per start): a second process with the same id is refused.
ALTER TABLE hg_workers ADD COLUMN incarnation text;
-- That process's public key (base64 SPKI DER): while it is alive, its heartbeats and outcomes must be signed with it.
ALTER TABLE hg_workers ADD COLUMN public_key text;
-- STOPPED: a worker that said goodbye (its last heartbeat said DOWN after it drained), unlike a crashed one.
ALTER TABLE hg_workers DROP CONSTRAINT hg_workers_status_check;
ALTER TABLE hg_workers ADD CONSTRAINT hg_workers_status_check CHECK (status IN ('ALIVE', 'DRAINING', 'DOWN', 'STOPPED'));

-- An attempt the core failed on a worker's behalf (declared dead, claim abandoned): an outcome that arrives
-- for it afterwards is reconciled (outcomes.ts) instead of being dropped.
ALTER TABLE hg_runs ADD COLUMN failed_by_core boolean NOT NULL DEFAULT false;

-- The task spec as it was when the run was made (issue 12, defect 16): the postgres queue hands this to the
-- worker, as the brokers carry the spec of fire time in the message, so an edit after the run was made never
-- changes what it runs. Captured by a trigger, so every way of inserting a run records it in the same
-- statement; a run from before this migration has none and falls back to the task's current spec.
ALTER TABLE hg_runs ADD COLUMN spec jsonb;
CREATE FUNCTION hg_runs_capture_spec() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.spec IS NULL AND NEW.status IN ('pending', 'queued') THEN
    NEW.spec := (SELECT spec FROM hg_tasks WHERE id = NEW.task_id);
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER hg_runs_capture_spec BEFORE INSERT ON hg_runs FOR EACH ROW EXECUTE FUNCTION hg_runs_capture_spec();
