/** Parsers for the RESP2 replies of the stream commands. */

export type StreamEntry = { key: string; id: string; fields: string[] | null };

/** Parses an XREADGROUP reply (RESP2): [[key, [[id, [f, v, ...] | null], ...]], ...] | null */
export function parseRead(reply: unknown): StreamEntry[] {
  const out: StreamEntry[] = [];
  if (!Array.isArray(reply)) return out;
  for (const stream of reply) {
    if (!Array.isArray(stream)) continue;
    const [key, entries] = stream as [unknown, unknown];
    if (typeof key !== 'string' || !Array.isArray(entries)) continue;
    for (const entry of entries) out.push(toEntry(key, entry));
  }
  return out;
}

/** fields is null when the entry was deleted while pending */
function toEntry(key: string, entry: unknown): StreamEntry {
  const [id, fields] = entry as [string, unknown];
  return { key, id: String(id), fields: Array.isArray(fields) ? (fields as unknown[]).map(String) : null };
}

/** Parses an XAUTOCLAIM reply: [next, [[id, fields], ...], deletedIds] */
export function parseAutoclaim(key: string, reply: unknown): StreamEntry[] {
  if (!Array.isArray(reply) || !Array.isArray(reply[1])) return [];
  return (reply[1] as unknown[]).map((entry) => toEntry(key, entry));
}

export function field(fields: string[] | null, name: string): string | null {
  if (!fields) return null;
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1] ?? null;
  return null;
}

/** A flat [k1, v1, k2, v2, ...] reply (XINFO) as a record. */
export function toRecord(flat: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!Array.isArray(flat)) return out;
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = flat[i + 1];
  return out;
}
