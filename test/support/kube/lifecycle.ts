import type { ApiState, WriteRequest } from './api-state.ts';
import { nowTimestamp } from './api-state.ts';
import { conflict, forbidden } from './errors.ts';
import type { StoredObject } from './object-store.ts';
import { storeKeyOf } from './resource-type.ts';
import type { ResourceType } from './resource-type.ts';
import type { KubeObject } from './types.ts';
import { targetOf } from './write-pipeline.ts';

/**
 * Deletion as the real control plane does it: finalizers hold an object with a deletionTimestamp,
 * the garbage collector removes dependents whose owners are all gone (background), or first
 * (foreground), namespaces drain before they disappear, and deleting a CRD deletes its objects.
 */

export interface DeleteOptions {
  propagationPolicy?: string;
  preconditions?: { uid?: string; resourceVersion?: string };
}

export interface DeleteResult { object: KubeObject; removed: boolean }

const FOREGROUND = 'foregroundDeletion';

export function systemRequest(state: ApiState, type: ResourceType): WriteRequest {
  const version = type.versions.find((served) => served.name === type.storageVersion) ?? (type.versions[0] as ResourceType['versions'][number]);
  return { state, type, version, dryRun: false, fieldValidation: 'Ignore', manager: 'hourglass-memory-controllers', warnings: [] };
}

function withMetadata(stored: StoredObject, changes: Partial<KubeObject['metadata']>): KubeObject {
  return { ...stored.object, metadata: { ...stored.object.metadata, ...changes } };
}

function markDeleting(request: WriteRequest, existing: StoredObject, finalizers: string[]): DeleteResult {
  const meta = existing.object.metadata;
  if (meta.deletionTimestamp && finalizers.length === (meta.finalizers ?? []).length) return { object: existing.object, removed: false };
  const generation = request.type.tracksGeneration ? { generation: (meta.generation ?? 0) + 1 } : {};
  const next = withMetadata(existing, {
    deletionTimestamp: meta.deletionTimestamp ?? nowTimestamp(),
    deletionGracePeriodSeconds: 0,
    finalizers,
    ...(meta.deletionTimestamp ? {} : generation),
  });
  if (request.type.resource === 'namespaces') next.status = { phase: 'Terminating' };
  if (request.dryRun) return { object: next, removed: false };
  return { object: request.state.storage.commit(storeKeyOf(request.type), next, existing).object, removed: false };
}

export function deleteObject(request: WriteRequest, existing: StoredObject, options: DeleteOptions): DeleteResult {
  const meta = existing.object.metadata;
  const preconditions = options.preconditions ?? {};
  if (preconditions.uid && preconditions.uid !== meta.uid) {
    throw conflict(targetOf(request, existing.name), `Precondition failed: UID in precondition: ${preconditions.uid}, UID in object meta: ${meta.uid}`);
  }
  if (preconditions.resourceVersion && preconditions.resourceVersion !== meta.resourceVersion) {
    throw conflict(targetOf(request, existing.name), `Precondition failed: ResourceVersion in precondition: ${preconditions.resourceVersion}, ResourceVersion in object meta: ${meta.resourceVersion}`);
  }
  const state = request.state;
  const storeKey = storeKeyOf(request.type);
  if (request.type.resource === 'namespaces' && !request.type.group) return deleteNamespace(request, existing);
  if (storeKey === 'apiextensions.k8s.io/customresourcedefinitions' && !request.dryRun) removeCustomResources(state, existing.object);
  const dependents = state.storage.dependentsOf(meta.uid ?? '');
  if (options.propagationPolicy === 'Orphan' && !request.dryRun) orphan(state, meta.uid ?? '');
  const finalizers = [...(meta.finalizers ?? [])];
  if (options.propagationPolicy === 'Foreground' && dependents.length > 0 && !finalizers.includes(FOREGROUND)) {
    finalizers.push(FOREGROUND);
    if (!request.dryRun) setImmediate(() => collectDependents(state, meta.uid ?? ''));
  }
  if (finalizers.length > 0) return markDeleting(request, existing, finalizers);
  if (request.dryRun) return { object: existing.object, removed: false };
  return { object: state.storage.remove(storeKey, existing).object, removed: true };
}

function orphan(state: ApiState, uid: string): void {
  for (const ref of state.storage.dependentsOf(uid)) {
    const dependent = state.storage.get(ref.storeKey, ref.namespace, ref.name);
    if (!dependent) continue;
    const owners = (dependent.object.metadata.ownerReferences ?? []).filter((owner) => owner.uid !== uid);
    state.storage.commit(ref.storeKey, withMetadata(dependent, { ownerReferences: owners.length ? owners : undefined }), dependent);
  }
}

/** Dependents of a deleted owner: deleted when no other owner remains, else the dangling reference is dropped. */
function collectDependents(state: ApiState, uid: string): void {
  for (const ref of state.storage.dependentsOf(uid)) {
    const dependent = state.storage.get(ref.storeKey, ref.namespace, ref.name);
    const type = state.registry.byStoreKey(ref.storeKey);
    if (!dependent || !type) continue;
    const owners = dependent.object.metadata.ownerReferences ?? [];
    const alive = owners.filter((owner) => owner.uid !== uid && ownerExists(state, owner, dependent.namespace));
    if (alive.length === 0) deleteObject(systemRequest(state, type), dependent, { propagationPolicy: 'Background' });
    else if (alive.length !== owners.length) state.storage.commit(ref.storeKey, withMetadata(dependent, { ownerReferences: alive }), dependent);
  }
}

function findOwner(state: ApiState, owner: { apiVersion: string; kind: string; name: string; uid: string }, namespace: string): { type: ResourceType; stored: StoredObject } | undefined {
  const group = owner.apiVersion.includes('/') ? (owner.apiVersion.split('/')[0] as string) : '';
  const type = state.registry.byGroupKind(group, owner.kind);
  if (!type) return undefined;
  const stored = state.storage.get(storeKeyOf(type), type.namespaced ? namespace : '', owner.name);
  return stored && stored.object.metadata.uid === owner.uid ? { type, stored } : undefined;
}

function ownerExists(state: ApiState, owner: { apiVersion: string; kind: string; name: string; uid: string }, namespace: string): boolean {
  const found = findOwner(state, owner, namespace);
  return found !== undefined && !found.stored.object.metadata.deletionTimestamp;
}

/** A foreground-deleting owner loses its finalizer once its last dependent is gone. */
function releaseForegroundOwners(state: ApiState, removed: StoredObject): void {
  for (const owner of removed.object.metadata.ownerReferences ?? []) {
    const found = findOwner(state, owner, removed.namespace);
    const meta = found?.stored.object.metadata;
    if (!found || !meta?.deletionTimestamp || !(meta.finalizers ?? []).includes(FOREGROUND)) continue;
    if (state.storage.dependentsOf(owner.uid).length > 0) continue;
    const finalizers = (meta.finalizers ?? []).filter((finalizer) => finalizer !== FOREGROUND);
    const storeKey = storeKeyOf(found.type);
    const next = withMetadata(found.stored, { finalizers });
    if (finalizers.length === 0) state.storage.remove(storeKey, state.storage.commit(storeKey, next, found.stored));
    else state.storage.commit(storeKey, next, found.stored);
  }
}

const UNDELETABLE_NAMESPACES = new Set(['default', 'kube-system', 'kube-public']);

function deleteNamespace(request: WriteRequest, existing: StoredObject): DeleteResult {
  const state = request.state;
  if (UNDELETABLE_NAMESPACES.has(existing.name)) throw forbidden(`namespaces "${existing.name}" is forbidden: this namespace may not be deleted`);
  if (request.dryRun) return { object: existing.object, removed: false };
  if (state.storage.countInNamespace(existing.name) === 0 && (existing.object.metadata.finalizers ?? []).length === 0) {
    return { object: state.storage.remove('/namespaces', existing).object, removed: true };
  }
  const marked = markDeleting(request, existing, existing.object.metadata.finalizers ?? []);
  for (const type of state.registry.all()) {
    if (!type.namespaced) continue;
    for (const stored of state.storage.objects(storeKeyOf(type)).list(existing.name)) {
      deleteObject(systemRequest(state, type), stored, { propagationPolicy: 'Background' });
    }
  }
  return marked;
}

function finishNamespace(state: ApiState, namespace: string): void {
  const owner = state.storage.get('/namespaces', '', namespace);
  if (!owner?.object.metadata.deletionTimestamp || state.storage.countInNamespace(namespace) > 0) return;
  if ((owner.object.metadata.finalizers ?? []).length > 0) return;
  state.storage.remove('/namespaces', owner);
}

function removeCustomResources(state: ApiState, crd: KubeObject): void {
  const spec = crd.spec as { group?: string; names?: { plural?: string } } | undefined;
  const storeKey = `${spec?.group}/${spec?.names?.plural}`;
  for (const stored of state.storage.objects(storeKey).list()) state.storage.remove(storeKey, stored);
  state.registry.unregister(spec?.group ?? '', spec?.names?.plural ?? '');
}

export function installGarbageCollector(state: ApiState): void {
  state.storage.onRemoved((_storeKey, removed) => {
    setImmediate(() => {
      if (removed.object.metadata.uid) collectDependents(state, removed.object.metadata.uid);
      releaseForegroundOwners(state, removed);
      if (removed.namespace) finishNamespace(state, removed.namespace);
    });
  });
}
