import { ValidationError } from '../core/model/index.ts';

/**
 * Opaque page cursors: base64url of a small JSON value. Clients pass back `nextCursor` unchanged;
 * anything else is a 400 naming `cursor`, never a 500.
 */
export function encodeCursor(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

export function decodeCursor<T>(cursor: string | undefined, check: (value: unknown) => value is T): T | undefined {
  if (cursor === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    value = undefined;
  }
  if (!check(value)) throw new ValidationError('query', [{ path: 'cursor', message: 'must be the nextCursor of a previous page' }]);
  return value;
}

export const isRunCursor = (v: unknown): v is { id: string } =>
  typeof v === 'object' && v !== null && typeof (v as { id?: unknown }).id === 'string' && /^\d{1,18}$/.test((v as { id: string }).id);

export const isNameCursor = (v: unknown): v is { ns: string; name: string } =>
  typeof v === 'object' && v !== null && typeof (v as { ns?: unknown }).ns === 'string' && typeof (v as { name?: unknown }).name === 'string';

export const isIdCursor = (v: unknown): v is { id: string } =>
  typeof v === 'object' && v !== null && typeof (v as { id?: unknown }).id === 'string';

/** `{ items, nextCursor }` from a page fetched with limit + 1 rows. */
export function page<T>(rows: T[], limit: number, cursorOf: (last: T) => unknown): { items: T[]; nextCursor: string | null } {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, nextCursor: rows.length > limit && last !== undefined ? encodeCursor(cursorOf(last)) : null };
}
