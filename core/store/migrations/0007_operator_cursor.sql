-- Hourglass schema, version 7: where the Kubernetes operator's leader stopped following runs.
-- A new leader resumes from here, so runs that started or finished during a failover still get their
-- Events (one row per operator Lease: "namespace/name").
CREATE TABLE hg_operator_cursors (
  lease      text PRIMARY KEY,
  -- runs with a larger id are new to the operator
  after_id   bigint NOT NULL,
  -- runs that finished or started at or after this time are new to the operator
  up_to      timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
