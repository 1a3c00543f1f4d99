import type { KubeObject } from './types.ts';

/** An object as stored: never mutated after commit, with its JSON rendered once for lists and watches. */
export interface StoredObject {
  key: string;
  namespace: string;
  name: string;
  rv: number;
  object: KubeObject;
  json: string;
}

export function objectKey(namespace: string, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

export function toStored(object: KubeObject, rv: number): StoredObject {
  const namespace = object.metadata.namespace ?? '';
  const name = object.metadata.name ?? '';
  return { key: objectKey(namespace, name), namespace, name, rv, object, json: JSON.stringify(object) };
}

/** The objects of one group/resource, listed in key order as etcd does (pagination relies on it). */
export class ObjectStore {
  readonly #items = new Map<string, StoredObject>();
  #sortedKeys: string[] | undefined;

  get size(): number {
    return this.#items.size;
  }

  get(namespace: string, name: string): StoredObject | undefined {
    return this.#items.get(objectKey(namespace, name));
  }

  put(stored: StoredObject): void {
    if (!this.#items.has(stored.key)) this.#sortedKeys = undefined;
    this.#items.set(stored.key, stored);
  }

  remove(key: string): void {
    if (this.#items.delete(key)) this.#sortedKeys = undefined;
  }

  /** Objects in key order, optionally one namespace only, starting after `afterKey`. */
  list(namespace?: string, afterKey?: string): StoredObject[] {
    this.#sortedKeys ??= [...this.#items.keys()].sort(compareKeys);
    const keys = this.#sortedKeys;
    let start = 0;
    if (afterKey !== undefined) start = firstIndexAfter(keys, afterKey);
    const found: StoredObject[] = [];
    for (let index = start; index < keys.length; index++) {
      const stored = this.#items.get(keys[index] as string) as StoredObject;
      if (namespace && stored.namespace !== namespace) continue;
      found.push(stored);
    }
    return found;
  }
}

function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function firstIndexAfter(sorted: string[], key: string): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((sorted[middle] as string) <= key) low = middle + 1;
    else high = middle;
  }
  return low;
}
