import { isDeepStrictEqual } from 'node:util';

export interface FieldChange {
  path: string;
  from: unknown;
  to: unknown;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The leaf fields that differ between what is stored and what is wanted, over the given top-level keys.
 * Objects are compared key by key (so a changed `retry.limit` shows as that one field); arrays whole.
 */
export function fieldChanges(current: Record<string, unknown>, wanted: Record<string, unknown>, keys: string[], prefix = ''): FieldChange[] {
  const changes: FieldChange[] = [];
  for (const key of keys) {
    const path = prefix ? `${prefix}.${key}` : key;
    const [from, to] = [current[key], wanted[key]];
    if (isPlainObject(from) && isPlainObject(to)) {
      changes.push(...fieldChanges(from, to, [...new Set([...Object.keys(from), ...Object.keys(to)])].sort(), path));
    } else if (!isDeepStrictEqual(from ?? null, to ?? null)) {
      changes.push({ path, from: from ?? null, to: to ?? null });
    }
  }
  return changes;
}

export function formatChange(change: FieldChange): string {
  const show = (value: unknown) => (value === null ? '(unset)' : JSON.stringify(value));
  return `${change.path}: ${show(change.from)} -> ${show(change.to)}`;
}
