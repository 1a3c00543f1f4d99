/** Rows per statement of the bulk reads and writes of the store (parameters are arrays, so this only bounds statement size). */
export const BULK_CHUNK = 2000;

export function inChunks<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += BULK_CHUNK) out.push(items.slice(i, i + BULK_CHUNK));
  return out;
}
