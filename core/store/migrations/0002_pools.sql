-- Hourglass schema, version 2: WorkerPools on the compose path, and indexes for the REST API's lists.

-- A WorkerPool declared through the API (source api) or mirrored from Kubernetes (source kubernetes).
-- Pools that only appear in runs or workers are not stored here; the API lists them all the same.
CREATE TABLE hg_pools (
  namespace  text NOT NULL DEFAULT '',
  name       text NOT NULL,
  source     text NOT NULL DEFAULT 'api' CHECK (source IN ('api', 'kubernetes')),
  labels     jsonb NOT NULL DEFAULT '{}',
  -- WorkerPoolSpec (core/model/worker-pool.ts), defaults applied
  spec       jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (namespace, name)
);

-- GET /api/task-runs?status=... and ?pool=... page newest first by id (keyset, never OFFSET): without these,
-- a filter that matches few of millions of runs scans the whole primary key to fill one page.
CREATE INDEX hg_runs_status_id ON hg_runs (status, id DESC);
CREATE INDEX hg_runs_pool_id ON hg_runs (pool, id DESC);
-- ?from=&to= bound the scheduled time; the planner walks this range and sorts the (bounded) result by id
CREATE INDEX hg_runs_scheduled ON hg_runs (scheduled_time);
-- GET /api/tasks?label=k=v is a containment test
CREATE INDEX hg_tasks_labels ON hg_tasks USING gin (labels) WHERE deleted_at IS NULL;
