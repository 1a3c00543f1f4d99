-- Hourglass schema, version 1. Every table is prefixed hg_ so the scheduler can share a database.

CREATE TABLE hg_tasks (
  id                  uuid PRIMARY KEY,
  namespace           text NOT NULL DEFAULT '',
  name                text NOT NULL,
  source              text NOT NULL DEFAULT 'api' CHECK (source IN ('api', 'kubernetes')),
  labels              jsonb NOT NULL DEFAULT '{}',
  spec                jsonb NOT NULL,
  generation          bigint NOT NULL DEFAULT 1,
  -- the latest scheduled time already turned into runs; catch-up starts after it
  last_scheduled_time timestamptz,
  -- when the current schedule took effect (creation, or the last change of schedule or time zone):
  -- fires before it belong to no schedule of this task and are neither run nor recorded as missed
  schedule_anchor     timestamptz NOT NULL DEFAULT now(),
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  -- soft delete keeps run history readable and lets dispatchers notice the deletion by updated_at
  deleted_at          timestamptz
);
CREATE UNIQUE INDEX hg_tasks_name ON hg_tasks (namespace, name) WHERE deleted_at IS NULL;
CREATE INDEX hg_tasks_updated ON hg_tasks (updated_at);

CREATE TABLE hg_runs (
  id             bigserial PRIMARY KEY,
  task_id        uuid NOT NULL REFERENCES hg_tasks (id),
  scheduled_time timestamptz NOT NULL,
  shard          integer NOT NULL DEFAULT 0,
  shard_total    integer NOT NULL DEFAULT 1,
  attempt        integer NOT NULL DEFAULT 1,
  trigger        text NOT NULL CHECK (trigger IN ('schedule', 'manual', 'retry', 'dependency')),
  status         text NOT NULL CHECK (status IN ('pending', 'queued', 'running', 'succeeded', 'failed', 'timed_out', 'cancelled', 'missed', 'skipped')),
  pool           text NOT NULL,
  priority       integer NOT NULL DEFAULT 0,
  -- a pending retry is not handed to the queue before this time
  not_before     timestamptz,
  worker_id      text,
  created_at     timestamptz NOT NULL DEFAULT now(),
  queued_at      timestamptz,
  started_at     timestamptz,
  finished_at    timestamptz,
  exit_code      integer,
  http_status    integer,
  error          text,
  output         text,
  -- exactly one run per (task, scheduled time, shard) and attempt: a second dispatcher's insert is a no-op
  CONSTRAINT hg_runs_slot UNIQUE (task_id, scheduled_time, shard, attempt)
);
CREATE INDEX hg_runs_queue ON hg_runs (pool, priority DESC, id) WHERE status = 'queued';
CREATE INDEX hg_runs_active ON hg_runs (status, task_id) WHERE status IN ('pending', 'queued', 'running');
CREATE INDEX hg_runs_task ON hg_runs (task_id, id DESC);
CREATE INDEX hg_runs_worker ON hg_runs (worker_id) WHERE status = 'running';

CREATE TABLE hg_workers (
  id                text PRIMARY KEY,
  pool              text NOT NULL,
  task_types        jsonb NOT NULL DEFAULT '[]',
  status            text NOT NULL CHECK (status IN ('ALIVE', 'DRAINING', 'DOWN')),
  concurrency       integer NOT NULL,
  active_runs       integer NOT NULL DEFAULT 0,
  -- "runId/attempt" of each attempt the worker said it executes, as of its last heartbeat
  held_runs         jsonb NOT NULL DEFAULT '[]',
  hostname          text NOT NULL DEFAULT '',
  version           text NOT NULL DEFAULT '',
  started_at        timestamptz NOT NULL,
  last_heartbeat_at timestamptz NOT NULL
);

CREATE TABLE hg_run_logs (
  run_id     bigint NOT NULL REFERENCES hg_runs (id) ON DELETE CASCADE,
  attempt    integer NOT NULL,
  seq        integer NOT NULL,
  stream     text NOT NULL,
  chunk      text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (run_id, seq)
);

-- finding the tasks that depend on one that just succeeded, without scanning every task
CREATE INDEX hg_tasks_depends_on ON hg_tasks USING gin ((spec -> 'dependsOn')) WHERE deleted_at IS NULL;
-- retention finds the tasks whose runs finished lately; time-range queries over history use it too
CREATE INDEX hg_runs_finished ON hg_runs (finished_at) WHERE finished_at IS NOT NULL;

-- The outcome of a task's latest fire, as dependsOn sees it: the newest scheduled time that ran, judged
-- over all its shards, each by its latest attempt. NULL when the task never ran; 'running' while any
-- shard is still active; 'succeeded' only when every shard succeeded; 'failed' otherwise.
CREATE FUNCTION hg_latest_outcome(p_task uuid) RETURNS text LANGUAGE sql STABLE AS $$
  WITH latest AS (
    SELECT max(scheduled_time) AS at FROM hg_runs WHERE task_id = p_task AND status NOT IN ('missed', 'skipped')
  ), shards AS (
    SELECT DISTINCT ON (r.shard) r.status FROM hg_runs r, latest
     WHERE r.task_id = p_task AND r.scheduled_time = latest.at AND r.status NOT IN ('missed', 'skipped')
     ORDER BY r.shard, r.attempt DESC
  )
  SELECT CASE WHEN count(*) = 0 THEN NULL
              WHEN bool_and(status = 'succeeded') THEN 'succeeded'
              WHEN bool_or(status IN ('pending', 'queued', 'running')) THEN 'running'
              ELSE 'failed' END
    FROM shards
$$;
