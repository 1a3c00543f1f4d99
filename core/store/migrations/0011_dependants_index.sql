-- Hourglass schema, version 11: tasks that fire often, by the 100,000.
--
-- Finding a task's dependants with an index, whatever the number of tasks. The GIN index of 0001 held every
-- task (nearly all with `dependsOn: []`), and a scheduled fire updates its task's row (last_scheduled_time):
-- each update that is not HOT put an entry into the index's pending list, which every lookup scans linearly.
-- With 100,000 tasks firing, one history batch's dependants lookup took seconds and held up the history
-- writer. Only tasks that depend on something are indexed now, without a pending list (tasks change rarely;
-- their fires, which do not touch this index any more, often).
DROP INDEX hg_tasks_depends_on;
CREATE INDEX hg_tasks_depends_on ON hg_tasks USING gin ((spec -> 'dependsOn')) WITH (fastupdate = off)
  WHERE deleted_at IS NULL AND spec -> 'dependsOn' <> '[]'::jsonb;

-- Room in each page for the new version of a row, so that a fire's update of last_scheduled_time (no indexed
-- column) is a HOT update: one WAL record and no index entries, instead of a new entry in every index of the
-- table and ~6 KB of WAL per fire. Pages written before this migration get the room when they are rewritten
-- (VACUUM FULL, pg_repack); see docs/deployment.md.
ALTER TABLE hg_tasks SET (fillfactor = 70);
