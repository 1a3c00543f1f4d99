/**
 * The JSONPath subset printer columns and scale paths use: `.a.b`, `.a[0]`, `.a[*].b`, `.a['x.y']`
 * and escaped dots (`.metadata.labels.app\.kubernetes\.io/name`). Returns every match.
 */

type Segment = { field: string } | { index: number } | { wildcard: true };

const parsed = new Map<string, Segment[]>();

function parse(path: string): Segment[] {
  const cached = parsed.get(path);
  if (cached) return cached;
  const segments: Segment[] = [];
  let text = path.trim().replace(/^\{(.*)\}$/, '$1');
  if (text.startsWith('$')) text = text.slice(1);
  let index = 0;
  while (index < text.length) {
    const char = text[index];
    if (char === '.') {
      index++;
      let field = '';
      while (index < text.length && text[index] !== '.' && text[index] !== '[') {
        if (text[index] === '\\' && index + 1 < text.length) index++;
        field += text[index];
        index++;
      }
      if (field) segments.push({ field });
    } else if (char === '[') {
      const end = text.indexOf(']', index);
      if (end < 0) break;
      const inner = text.slice(index + 1, end).trim();
      if (inner === '*') segments.push({ wildcard: true });
      else if (/^-?\d+$/.test(inner)) segments.push({ index: Number(inner) });
      else segments.push({ field: inner.replace(/^['"]|['"]$/g, '') });
      index = end + 1;
    } else {
      let field = '';
      while (index < text.length && text[index] !== '.' && text[index] !== '[') field += text[index++];
      segments.push({ field });
    }
  }
  parsed.set(path, segments);
  return segments;
}

export function evaluateJsonPath(object: unknown, path: string): unknown[] {
  let current: unknown[] = [object];
  for (const segment of parse(path)) {
    const next: unknown[] = [];
    for (const value of current) {
      if ('wildcard' in segment) {
        if (Array.isArray(value)) next.push(...value);
        else if (value && typeof value === 'object') next.push(...Object.values(value));
      } else if ('index' in segment) {
        if (Array.isArray(value)) {
          const item = value[segment.index < 0 ? value.length + segment.index : segment.index];
          if (item !== undefined) next.push(item);
        }
      } else if (value && typeof value === 'object' && !Array.isArray(value)) {
        const item = (value as Record<string, unknown>)[segment.field];
        if (item !== undefined) next.push(item);
      }
    }
    current = next;
  }
  return current;
}

/** Writes `value` at a simple dotted path (`.spec.replicas`), creating objects on the way. */
export function setAtPath(object: Record<string, unknown>, path: string, value: unknown): void {
  const fields = parse(path).map((segment) => ('field' in segment ? segment.field : String('index' in segment ? segment.index : '*')));
  let current = object;
  for (const field of fields.slice(0, -1)) {
    if (typeof current[field] !== 'object' || current[field] === null) current[field] = {};
    current = current[field] as Record<string, unknown>;
  }
  const last = fields[fields.length - 1];
  if (last !== undefined) current[last] = value;
}
