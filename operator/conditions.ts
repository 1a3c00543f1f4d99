import { isDeepStrictEqual } from 'node:util';
import type { Condition } from './crd-status.ts';

/**
 * A condition as it should be now, keeping the previous lastTransitionTime while its status is unchanged,
 * so a status rewritten for another reason does not pretend the condition just flipped.
 */
export function condition(previous: Condition[] | undefined, next: Omit<Condition, 'lastTransitionTime'>, now: Date): Condition {
  const before = previous?.find((c) => c.type === next.type);
  const lastTransitionTime = before && before.status === next.status ? before.lastTransitionTime : now.toISOString();
  return { ...next, lastTransitionTime };
}

/**
 * The merge patch that turns `previous` into `next`, or undefined when they are equal (then nothing is
 * written: a resync costs no API write). Top-level keys that disappear are set to null, as merge patch needs.
 */
export function statusPatch<T extends object>(previous: T | undefined, next: T): Record<string, unknown> | undefined {
  if (previous && isDeepStrictEqual(normalise(previous), normalise(next))) return undefined;
  const patch: Record<string, unknown> = { ...(next as Record<string, unknown>) };
  for (const key of Object.keys(previous ?? {})) if (!(key in next)) patch[key] = null;
  return patch;
}

/** drops undefined members, which a round trip through the API would drop too */
function normalise(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value)) as unknown;
}
