-- Hourglass schema, version 9: how far the status path is proven to deliver.
-- The leader's reaper sends a probe down the workers' heartbeat path; whichever replica applies it moves
-- proven_at up to the probe's time. A worker's silence is counted only up to proven_at, so a stalled status
-- consumer (deaf) is never taken for dead workers (issue 12, the deaf-versus-dead class).
CREATE TABLE hg_status_path (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  proven_at timestamptz NOT NULL DEFAULT '-infinity'
);
INSERT INTO hg_status_path DEFAULT VALUES;
