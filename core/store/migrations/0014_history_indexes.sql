-- Hourglass schema, version 14: the history's list indexes hold finished runs only (issue 15).
--
-- Every change of a run's status is an update that is not HOT (status is indexed), so it puts a new entry
-- into every index whose predicate the new row matches. hg_runs_status_id, hg_runs_pool_id and
-- hg_runs_scheduled held every run, so each run took an entry in each of them when it was queued, again when
-- it started and again when it finished: 9 of the 23 index entries a run costs, for lists that are read
-- rarely. Now a run enters them once, when it finishes. Active runs (pending, queued, running) are listed
-- through hg_runs_active and hg_runs_queue instead (core/store/run-queries.ts lists the two parts and merges
-- them). The throughput bench (20,000 no-op runs, the two schemas alternated): WAL 3,110 -> 2,620 bytes a
-- run, Postgres CPU 84-92 -> 74-79 µs a run, end to end 9,358-9,883 -> 9,959-10,723 runs/s.
--
-- The predicate names the finished statuses (core/model/run.ts TERMINAL_STATUSES) rather than "not active":
-- a statement that tests `status NOT IN (<active>)` (core/store/status-test.ts) then cannot use these
-- indexes, which is what those statements want.
DROP INDEX hg_runs_status_id;
DROP INDEX hg_runs_pool_id;
DROP INDEX hg_runs_scheduled;
CREATE INDEX hg_runs_status_id ON hg_runs (status, id DESC)
  WHERE status IN ('succeeded', 'failed', 'timed_out', 'cancelled', 'missed', 'skipped');
CREATE INDEX hg_runs_pool_id ON hg_runs (pool, id DESC)
  WHERE status IN ('succeeded', 'failed', 'timed_out', 'cancelled', 'missed', 'skipped');
CREATE INDEX hg_runs_scheduled ON hg_runs (scheduled_time)
  WHERE status IN ('succeeded', 'failed', 'timed_out', 'cancelled', 'missed', 'skipped');
