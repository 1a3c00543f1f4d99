-- Hourglass schema, version 12: each task's fire partition, stored and indexed.
--
-- A dispatcher that gains fire partitions (a replica joined or died) loads the schedules of those partitions
-- only. It used to read every scheduled task and keep those whose partition it gained: with 1,000,000 tasks
-- over 16 dispatchers, every rebalance read the whole table on every dispatcher that gained anything.
--
-- The partition is FNV-1a (32 bits) of the task id's text, mod 64: the function partitionOf in
-- core/store/fire-partition.ts, which test/integration/fire-partition-column.test.ts holds equal to this one.
-- A trigger sets it on insert (an id never changes), so every way a task is written gets it; a generated
-- column would compute it again on every update, and a fire updates its task's row.
CREATE FUNCTION hg_fire_partition(task_id uuid) RETURNS smallint LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  b bytea := convert_to(task_id::text, 'UTF8');
  h bigint := 2166136261;
BEGIN
  FOR i IN 0 .. length(b) - 1 LOOP
    h := ((h # get_byte(b, i)) * 16777619) & 4294967295;
  END LOOP;
  RETURN (h % 64)::smallint;
END $$;

CREATE FUNCTION hg_tasks_set_fire_partition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.fire_partition := hg_fire_partition(NEW.id);
  RETURN NEW;
END $$;

ALTER TABLE hg_tasks ADD COLUMN fire_partition smallint;
UPDATE hg_tasks SET fire_partition = hg_fire_partition(id);
ALTER TABLE hg_tasks ALTER COLUMN fire_partition SET NOT NULL;
CREATE TRIGGER hg_tasks_fire_partition BEFORE INSERT ON hg_tasks FOR EACH ROW EXECUTE FUNCTION hg_tasks_set_fire_partition();
-- the dispatchers' load of a share: live scheduled tasks of some partitions
CREATE INDEX hg_tasks_fire_partition ON hg_tasks (fire_partition) WHERE deleted_at IS NULL AND spec ? 'schedule';
