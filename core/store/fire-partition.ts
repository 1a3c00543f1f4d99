/**
 * Which of the fixed fire partitions a task belongs to (core/dispatch/fire-partitions.ts shares them over the
 * dispatchers): FNV-1a (32 bits) of its id, so every process computes it with no lookup. Postgres stores
 * the same value in hg_tasks.fire_partition (migration 0012, function hg_fire_partition), so a dispatcher
 * reads the tasks of its partitions only; the two must agree (test/integration/fire-partition-column.test.ts).
 */
export const FIRE_PARTITIONS = 64;

export function partitionOf(taskId: string, partitions = FIRE_PARTITIONS): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < taskId.length; i++) {
    hash ^= taskId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % partitions;
}
