import { badRequest, KubeError } from './errors.ts';
import { deepClone, deepEqual, isObject } from './types.ts';

/** RFC 7386 JSON merge patch and RFC 6902 JSON patch, the two patch types every kind accepts. */

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return deepClone(patch);
  const result: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

interface Operation { op: string; path: string; from?: string; value?: unknown }

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw badRequest(`the JSON patch path "${pointer}" does not start with '/'`);
  return pointer.slice(1).split('/').map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function unprocessable(message: string): KubeError {
  return new KubeError(422, 'Invalid', message);
}

function parentOf(document: unknown, segments: string[], pointer: string): { container: unknown; last: string } {
  let current = document;
  for (const segment of segments.slice(0, -1)) {
    if (Array.isArray(current)) current = current[Number(segment)];
    else if (isObject(current)) current = current[segment];
    else current = undefined;
    if (current === undefined) throw unprocessable(`jsonpatch: path ${pointer} does not exist: missing value`);
  }
  return { container: current, last: segments[segments.length - 1] as string };
}

function read(document: unknown, pointer: string): unknown {
  let current = document;
  for (const segment of parsePointer(pointer)) {
    current = Array.isArray(current) ? current[Number(segment)] : isObject(current) ? current[segment] : undefined;
    if (current === undefined) throw unprocessable(`jsonpatch: path ${pointer} does not exist: missing value`);
  }
  return current;
}

function arrayIndex(container: unknown[], segment: string, pointer: string, forInsert: boolean): number {
  const index = segment === '-' && forInsert ? container.length : Number(segment);
  const limit = forInsert ? container.length : container.length - 1;
  if (!Number.isInteger(index) || index < 0 || index > limit) throw unprocessable(`jsonpatch: index ${segment} out of bounds at ${pointer}`);
  return index;
}

function add(document: unknown, pointer: string, value: unknown): unknown {
  const segments = parsePointer(pointer);
  if (segments.length === 0) return deepClone(value);
  const { container, last } = parentOf(document, segments, pointer);
  if (Array.isArray(container)) container.splice(arrayIndex(container, last, pointer, true), 0, deepClone(value));
  else if (isObject(container)) container[last] = deepClone(value);
  else throw unprocessable(`jsonpatch: path ${pointer} does not exist: missing value`);
  return document;
}

function remove(document: unknown, pointer: string): unknown {
  const segments = parsePointer(pointer);
  const { container, last } = parentOf(document, segments, pointer);
  if (Array.isArray(container)) container.splice(arrayIndex(container, last, pointer, false), 1);
  else if (isObject(container) && last in container) delete container[last];
  else throw unprocessable(`jsonpatch: remove operation does not apply: doc is missing path: "${pointer}"`);
  return document;
}

export function jsonPatch(target: unknown, operations: unknown): unknown {
  if (!Array.isArray(operations)) throw badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  let document = deepClone(target);
  for (const raw of operations as Operation[]) {
    const { op, path } = raw;
    if (typeof path !== 'string') throw badRequest(`json patch operation is missing "path": ${JSON.stringify(raw)}`);
    switch (op) {
      case 'add': document = add(document, path, raw.value); break;
      case 'remove': document = remove(document, path); break;
      case 'replace': read(document, path); document = add(remove(document, path), path, raw.value); break;
      case 'move': { const value = read(document, String(raw.from)); document = add(remove(document, String(raw.from)), path, value); break; }
      case 'copy': document = add(document, path, read(document, String(raw.from))); break;
      case 'test':
        if (!deepEqual(read(document, path), raw.value)) throw unprocessable(`jsonpatch: testing value ${path} failed: test failed`);
        break;
      default: throw badRequest(`Unexpected kind: ${String(op)}`);
    }
  }
  return document;
}
