import { ObjectStore, toStored } from './object-store.ts';
import type { StoredObject } from './object-store.ts';
import { WatchHub } from './watch-hub.ts';
import type { KubeObject } from './types.ts';

interface Bucket { objects: ObjectStore; hub: WatchHub }

/** Reference to one stored object from elsewhere (the owner index). */
export interface ObjectRef { storeKey: string; namespace: string; name: string }

/**
 * All objects, one resourceVersion clock shared by every resource (as etcd's revision is), and the
 * owner index the garbage collector walks. Every write goes through commit/remove so that the store,
 * the watch history and the index never disagree.
 */
export class Storage {
  #revision = 1;
  /** Watches resuming below this answer 410 Gone (set by expireHistory). */
  #expiredBefore = 0;
  readonly #buckets = new Map<string, Bucket>();
  readonly #dependents = new Map<string, Map<string, ObjectRef>>();
  readonly #namespaceCounts = new Map<string, number>();
  readonly #removalListeners: Array<(storeKey: string, removed: StoredObject) => void> = [];

  get revision(): number {
    return this.#revision;
  }

  expireHistory(): void {
    this.#expiredBefore = this.#revision;
  }

  /** Lowest resourceVersion a watch on this resource may resume from. */
  oldestResumable(storeKey: string): number {
    return Math.max(this.#expiredBefore, this.#bucket(storeKey).hub.droppedThrough);
  }

  objects(storeKey: string): ObjectStore {
    return this.#bucket(storeKey).objects;
  }

  hub(storeKey: string): WatchHub {
    return this.#bucket(storeKey).hub;
  }

  get(storeKey: string, namespace: string, name: string): StoredObject | undefined {
    return this.#buckets.get(storeKey)?.objects.get(namespace, name);
  }

  /** Stores a new version of an object (ADDED when there was none) and returns it as stored. */
  commit(storeKey: string, object: KubeObject, previous: StoredObject | undefined): StoredObject {
    const rv = ++this.#revision;
    object.metadata.resourceVersion = String(rv);
    const stored = toStored(object, rv);
    const bucket = this.#bucket(storeKey);
    bucket.objects.put(stored);
    if (!previous && stored.namespace) this.#namespaceCounts.set(stored.namespace, this.countInNamespace(stored.namespace) + 1);
    this.#reindexOwners(storeKey, previous, stored);
    bucket.hub.publish({ type: previous ? 'MODIFIED' : 'ADDED', rv, current: stored, previous });
    return stored;
  }

  remove(storeKey: string, previous: StoredObject): StoredObject {
    const rv = ++this.#revision;
    const last = { ...previous.object, metadata: { ...previous.object.metadata, resourceVersion: String(rv) } };
    const stored = toStored(last, rv);
    const bucket = this.#bucket(storeKey);
    bucket.objects.remove(previous.key);
    if (previous.namespace) this.#namespaceCounts.set(previous.namespace, this.countInNamespace(previous.namespace) - 1);
    this.#reindexOwners(storeKey, previous, undefined);
    bucket.hub.publish({ type: 'DELETED', rv, current: stored, previous });
    for (const listener of this.#removalListeners) listener(storeKey, stored);
    return stored;
  }

  /** Objects stored in a namespace, across every resource (namespace termination waits for zero). */
  countInNamespace(namespace: string): number {
    return this.#namespaceCounts.get(namespace) ?? 0;
  }

  onRemoved(listener: (storeKey: string, removed: StoredObject) => void): void {
    this.#removalListeners.push(listener);
  }

  dependentsOf(uid: string): ObjectRef[] {
    return [...(this.#dependents.get(uid)?.values() ?? [])];
  }

  storeKeys(): string[] {
    return [...this.#buckets.keys()];
  }

  #bucket(storeKey: string): Bucket {
    let bucket = this.#buckets.get(storeKey);
    if (!bucket) {
      bucket = { objects: new ObjectStore(), hub: new WatchHub() };
      this.#buckets.set(storeKey, bucket);
    }
    return bucket;
  }

  #reindexOwners(storeKey: string, before: StoredObject | undefined, after: StoredObject | undefined): void {
    const id = `${storeKey}\u0000${(after ?? before)?.key}`;
    for (const owner of before?.object.metadata.ownerReferences ?? []) this.#dependents.get(owner.uid)?.delete(id);
    if (!after) return;
    for (const owner of after.object.metadata.ownerReferences ?? []) {
      let dependents = this.#dependents.get(owner.uid);
      if (!dependents) {
        dependents = new Map();
        this.#dependents.set(owner.uid, dependents);
      }
      dependents.set(id, { storeKey, namespace: after.namespace, name: after.name });
    }
  }
}
