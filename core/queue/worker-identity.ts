/**
 * Two processes started with one worker id would overwrite each other's row and held list. Each consumer
 * process therefore has an incarnation (a random id stamped on its heartbeats, guarded-consumer.ts); the core
 * keeps the first live one and tells the other to drain with a drain addressed to its incarnation only.
 */
const SEPARATOR = '#incarnation=';

/** The target of publishDrain() that reaches one incarnation of a worker id only. */
export function drainTarget(workerId: string, incarnation?: string): string {
  return incarnation === undefined ? workerId : `${workerId}${SEPARATOR}${incarnation}`;
}

/** The worker id and, when the drain is addressed to one incarnation, that incarnation. */
export function parseDrainTarget(target: string): { workerId: string; incarnation?: string } {
  const at = target.lastIndexOf(SEPARATOR);
  if (at < 0) return { workerId: target };
  return { workerId: target.slice(0, at), incarnation: target.slice(at + SEPARATOR.length) };
}
