import { badRequest } from './errors.ts';
import { deepClone, isObject } from './types.ts';

/**
 * Strategic merge patch for built-in kinds, driven by the patch-merge keys of the Kubernetes Go types
 * (kubectl sends these for Deployments, Pods, Services...): keyed lists merge item by item, `$patch`
 * replace/delete, `$retainKeys`, `$deleteFromPrimitiveList/x` and `$setElementOrder/x` directives.
 */

/** Field name -> merge key, as in the Go struct tags (`patchMergeKey`). */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  imagePullSecrets: 'name',
  hostAliases: 'ip',
  conditions: 'type',
  ownerReferences: 'uid',
  topologySpreadConstraints: 'topologyKey',
  resourceClaims: 'name',
  secrets: 'name',
};

/** Primitive lists whose strategy is `merge` (union) rather than replace. */
const MERGED_PRIMITIVE_LISTS = new Set(['finalizers']);

export function mergeKeyFor(field: string, items: unknown[]): string | undefined {
  if (field === 'ports') return items.some((item) => isObject(item) && 'containerPort' in item) ? 'containerPort' : 'port';
  return MERGE_KEYS[field];
}

export function strategicMergePatch(original: unknown, patch: unknown): unknown {
  if (!isObject(patch)) throw badRequest('strategic merge patch must be a JSON object');
  return mergeMap(isObject(original) ? original : {}, patch);
}

function mergeMap(original: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> | undefined {
  const directive = patch.$patch;
  if (directive === 'delete') return undefined;
  if (directive === 'replace') {
    const replaced = deepClone(patch);
    delete replaced.$patch;
    return stripDirectives(replaced) as Record<string, unknown>;
  }
  const result: Record<string, unknown> = { ...original };
  if (Array.isArray(patch.$retainKeys)) {
    const retained = new Set(patch.$retainKeys as string[]);
    for (const key of Object.keys(result)) if (!retained.has(key)) delete result[key];
  }
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$deleteFromPrimitiveList/')) {
      const field = key.slice('$deleteFromPrimitiveList/'.length);
      const removed = Array.isArray(value) ? value : [];
      if (Array.isArray(result[field])) result[field] = (result[field] as unknown[]).filter((item) => !removed.includes(item));
      continue;
    }
    if (key.startsWith('$')) continue;
    if (value === null) {
      delete result[key];
    } else if (Array.isArray(value)) {
      result[key] = mergeList(key, Array.isArray(result[key]) ? (result[key] as unknown[]) : [], value);
    } else if (isObject(value)) {
      const merged = mergeMap(isObject(result[key]) ? (result[key] as Record<string, unknown>) : {}, value);
      if (merged === undefined) delete result[key];
      else result[key] = merged;
    } else {
      result[key] = value;
    }
  }
  return result;
}

function mergeList(field: string, original: unknown[], patch: unknown[]): unknown[] {
  if (patch.some((item) => isObject(item) && item.$patch === 'replace' && Object.keys(item).length === 1)) {
    return stripDirectives(patch.filter((item) => !(isObject(item) && item.$patch === 'replace'))) as unknown[];
  }
  if (MERGED_PRIMITIVE_LISTS.has(field)) {
    const merged = [...original];
    for (const item of patch) if (!merged.includes(item)) merged.push(item);
    return merged;
  }
  const key = mergeKeyFor(field, [...original, ...patch]);
  if (!key || !patch.every(isObject)) return stripDirectives(patch) as unknown[];
  const result = [...original] as Array<Record<string, unknown>>;
  for (const item of patch as Array<Record<string, unknown>>) {
    const index = result.findIndex((existing) => isObject(existing) && existing[key] === item[key]);
    if (item.$patch === 'delete') {
      if (index >= 0) result.splice(index, 1);
      continue;
    }
    if (index >= 0) {
      const merged = mergeMap(result[index] as Record<string, unknown>, item);
      if (merged === undefined) result.splice(index, 1);
      else result[index] = merged;
    } else {
      result.push(stripDirectives(item) as Record<string, unknown>);
    }
  }
  return result;
}

function stripDirectives(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripDirectives);
  if (!isObject(value)) return value;
  const result: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) if (!key.startsWith('$')) result[key] = stripDirectives(inner);
  return result;
}
