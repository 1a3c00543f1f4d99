-- Hourglass schema, version 10: finding a task's dependants with an index, whatever the number of tasks.
-- The GIN index of 0001 held every task (nearly all with `dependsOn: []`), and a scheduled fire updates its
-- task's row (last_scheduled_time): each update that is not HOT put an entry into the index's pending list,
-- which every lookup scans linearly. With 100,000 tasks firing, one history batch's dependants lookup took
-- seconds and held up the history writer. Only tasks that depend on something are indexed now, without a
-- pending list (tasks change rarely; their fires, which do not touch this index any more, often).
DROP INDEX hg_tasks_depends_on;
CREATE INDEX hg_tasks_depends_on ON hg_tasks USING gin ((spec -> 'dependsOn')) WITH (fastupdate = off)
  WHERE deleted_at IS NULL AND spec -> 'dependsOn' <> '[]'::jsonb;
