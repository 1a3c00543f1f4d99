import { mergeKeyFor } from './strategic-merge.ts';
import type { JsonObject, KubeObject } from './types.ts';
import { deepClone, isObject } from './types.ts';

/**
 * Server-side apply, simplified: each Apply manager's field set is recorded in managedFields (FieldsV1
 * format); a new apply merges the configuration in and removes the fields that manager applied last
 * time and no longer sets. Not modelled: conflicts between managers (apply always wins, as with
 * --force-conflicts) and shared ownership of a field.
 */

type FieldSet = Record<string, unknown>;

const IGNORED_METADATA = new Set(['name', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'managedFields', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'selfLink']);

function fieldSetOf(value: unknown, field: string, keyed: boolean): FieldSet {
  const set: FieldSet = {};
  if (isObject(value)) {
    for (const [key, inner] of Object.entries(value)) set[`f:${key}`] = fieldSetOf(inner, key, keyed);
  } else if (Array.isArray(value) && keyed) {
    const key = mergeKeyFor(field, value);
    if (key && value.every(isObject)) {
      for (const item of value as Array<Record<string, unknown>>) {
        set[`k:${JSON.stringify({ [key]: item[key] })}`] = { '.': {}, ...fieldSetOf(item, '', keyed) };
      }
    }
  }
  return set;
}

function appliedFieldSet(applied: KubeObject, keyed: boolean): FieldSet {
  const metadata: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(applied.metadata)) if (!IGNORED_METADATA.has(key)) metadata[key] = value;
  const body: Record<string, unknown> = { ...applied, metadata };
  delete body.apiVersion;
  delete body.kind;
  if (Object.keys(metadata).length === 0) delete body.metadata;
  return fieldSetOf(body, '', keyed);
}

function leaves(set: FieldSet, prefix: string[] = []): string[][] {
  const found: string[][] = [];
  for (const [segment, inner] of Object.entries(set)) {
    const path = [...prefix, segment];
    if (isObject(inner) && Object.keys(inner).length > 0) found.push(...leaves(inner as FieldSet, path));
    else found.push(path);
  }
  return found;
}

function removePath(target: unknown, path: string[]): void {
  let current: unknown = target;
  for (let index = 0; index < path.length; index++) {
    const segment = path[index] as string;
    const last = index === path.length - 1 || path[index + 1] === '.';
    if (segment.startsWith('f:')) {
      if (!isObject(current)) return;
      if (last) { delete current[segment.slice(2)]; return; }
      current = current[segment.slice(2)];
    } else if (segment.startsWith('k:')) {
      if (!Array.isArray(current)) return;
      const key = JSON.parse(segment.slice(2)) as Record<string, unknown>;
      const position = current.findIndex((item) => isObject(item) && Object.entries(key).every(([name, value]) => item[name] === value));
      if (position < 0) return;
      if (last) { current.splice(position, 1); return; }
      current = current[position];
    }
  }
}

function applyMerge(target: unknown, config: unknown, field: string, keyed: boolean): unknown {
  if (isObject(config)) {
    const result: Record<string, unknown> = isObject(target) ? { ...target } : {};
    for (const [key, value] of Object.entries(config)) {
      if (value === null) delete result[key];
      else result[key] = applyMerge(result[key], value, key, keyed);
    }
    return result;
  }
  if (Array.isArray(config) && Array.isArray(target) && keyed) {
    const key = mergeKeyFor(field, config);
    if (key && config.every(isObject) && target.every(isObject)) {
      const result = [...target] as Array<Record<string, unknown>>;
      for (const item of config as Array<Record<string, unknown>>) {
        const position = result.findIndex((existing) => existing[key] === item[key]);
        if (position >= 0) result[position] = applyMerge(result[position], item, '', keyed) as Record<string, unknown>;
        else result.push(deepClone(item));
      }
      return result;
    }
  }
  return deepClone(config);
}

export interface ApplyRequest {
  existing: KubeObject | undefined;
  applied: KubeObject;
  manager: string;
  apiVersion: string;
  now: string;
  /** Built-in kinds merge keyed lists (containers by name); custom resources treat lists as atomic. */
  keyedLists: boolean;
}

export function serverSideApply(request: ApplyRequest): KubeObject {
  const { existing, applied, manager, keyedLists } = request;
  const newSet = appliedFieldSet(applied, keyedLists);
  const base = deepClone(existing ?? { metadata: {} }) as KubeObject;
  const entries = (base.metadata.managedFields ?? []) as JsonObject[];
  const previous = entries.find((entry) => entry.manager === manager && entry.operation === 'Apply');
  if (previous && isObject(previous.fieldsV1)) {
    const keep = new Set(leaves(newSet).map((path) => path.join('\u0000')));
    const stale = leaves(previous.fieldsV1 as FieldSet).filter((path) => !keep.has(path.join('\u0000')));
    stale.sort((a, b) => b.length - a.length);
    for (const path of stale) removePath(base, path.filter((segment) => segment !== '.'));
  }
  const merged = applyMerge(base, applied, '', keyedLists) as KubeObject;
  const entry: JsonObject = {
    manager,
    operation: 'Apply',
    apiVersion: request.apiVersion,
    time: request.now,
    fieldsType: 'FieldsV1',
    fieldsV1: newSet as JsonObject,
  };
  merged.metadata.managedFields = [...entries.filter((other) => other !== previous), entry];
  return merged;
}
