import { randomUUID } from 'node:crypto';
import type { WriteRequest } from './api-state.ts';
import { nowTimestamp } from './api-state.ts';
import { alreadyExists, badRequest, conflict, forbidden, invalid, KubeError, notFound } from './errors.ts';
import type { FieldProblem, Target } from './errors.ts';
import { hooksFor } from './kind-hooks.ts';
import { validateMetadata } from './metadata-validation.ts';
import type { StoredObject } from './object-store.ts';
import { apiVersionOf, storeKeyOf } from './resource-type.ts';
import { validateAgainstSchema } from './schema-validation.ts';
import type { JsonObject, KubeObject } from './types.ts';
import { deepClone, deepEqual, isObject } from './types.ts';

/**
 * Create and update, in the real server's order: decode checks, system metadata, status-subresource
 * rules, defaults and validation (kind hooks, CRD schema, CEL), optimistic concurrency, generation,
 * no-op detection, dry run, then one commit that the watch hub publishes.
 */

export interface WriteResult {
  object: KubeObject;
  /** false for a dry run or a no-op update. */
  written: boolean;
}

export function targetOf(request: WriteRequest, name: string): Target {
  return { resource: request.type.resource, group: request.type.group, kind: request.type.kind, name };
}

const NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

function generatedName(prefix: string): string {
  let suffix = '';
  for (let index = 0; index < 5; index++) suffix += NAME_ALPHABET[Math.floor(Math.random() * NAME_ALPHABET.length)];
  return `${prefix}${suffix}`;
}

function asObject(body: unknown): KubeObject {
  if (!isObject(body)) throw badRequest('the request body must be a JSON object');
  const object = deepClone(body) as KubeObject;
  if (!isObject(object.metadata)) object.metadata = {};
  return object;
}

function checkKind(request: WriteRequest, object: KubeObject): void {
  if (object.kind !== undefined && object.kind !== request.type.kind) {
    throw badRequest(`the kind in the body (${String(object.kind)}) does not match the kind of the request (${request.type.kind})`);
  }
  object.apiVersion = apiVersionOf(request.type.group, request.version.name);
  object.kind = request.type.kind;
}

function stamp(request: WriteRequest, object: KubeObject, operation: 'Update'): void {
  const entries = (object.metadata.managedFields ?? []).filter((entry) => !(entry.manager === request.manager && entry.operation === operation));
  entries.push({ manager: request.manager, operation, apiVersion: object.apiVersion ?? '', time: nowTimestamp(), fieldsType: 'FieldsV1', fieldsV1: {} });
  object.metadata.managedFields = entries as JsonObject[];
}

/** Kind hooks, metadata and (for custom resources) the CRD schema with its CEL rules. */
function admit(request: WriteRequest, next: KubeObject, old: KubeObject | undefined): void {
  const name = next.metadata.name ?? '';
  const problems: FieldProblem[] = [...validateMetadata(next, request.type.resource === 'namespaces')];
  problems.push(...(hooksFor(storeKeyOf(request.type)).admit?.(next, old, request) ?? []));
  const schema = request.version.schema;
  if (request.type.custom && schema) {
    const outcome = validateAgainstSchema(schema, next as unknown as Record<string, unknown>, old, request.state.log);
    problems.push(...outcome.problems);
    if (outcome.unknownFields.length > 0 && request.fieldValidation === 'Strict') {
      throw badRequest(`strict decoding error: ${outcome.unknownFields.map((field) => `unknown field "${field}"`).join(', ')}`);
    }
    if (request.fieldValidation !== 'Ignore') for (const field of outcome.unknownFields) request.warnings.push(`unknown field "${field}"`);
  }
  if (problems.length > 0) throw invalid(targetOf(request, name), problems);
}

function checkNamespace(request: WriteRequest, namespace: string, name: string): void {
  if (!request.type.namespaced) return;
  const owner = request.state.storage.get('/namespaces', '', namespace);
  if (!owner) throw new KubeError(404, 'NotFound', `namespaces "${namespace}" not found`, { name: namespace, kind: 'namespaces' });
  if (owner.object.metadata.deletionTimestamp) {
    throw forbidden(`${request.type.resource} "${name}" is forbidden: unable to create new content in namespace ${namespace} because it is being terminated`);
  }
}

export function createObject(request: WriteRequest, body: unknown, namespace: string): WriteResult {
  const object = asObject(body);
  checkKind(request, object);
  const meta = object.metadata;
  if (request.type.namespaced) {
    if (meta.namespace && meta.namespace !== namespace) throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    meta.namespace = namespace;
  } else {
    delete meta.namespace;
  }
  if (!meta.name && meta.generateName) meta.name = generatedName(meta.generateName);
  if (!meta.name) {
    throw invalid(targetOf(request, ''), [{ field: 'metadata.name', type: 'FieldValueRequired', detail: 'Required value: name or generateName is required' }]);
  }
  meta.uid = randomUUID();
  meta.creationTimestamp = nowTimestamp();
  if (request.type.tracksGeneration) meta.generation = 1;
  else delete meta.generation;
  for (const field of ['resourceVersion', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'selfLink'] as const) delete meta[field];
  if (request.version.statusSubresource) delete object.status;
  admit(request, object, undefined);
  checkNamespace(request, namespace, meta.name);
  const storeKey = storeKeyOf(request.type);
  if (request.state.storage.get(storeKey, meta.namespace ?? '', meta.name)) throw alreadyExists(targetOf(request, meta.name));
  if (!meta.managedFields?.length) stamp(request, object, 'Update');
  if (request.dryRun) return { object, written: false };
  const stored = request.state.storage.commit(storeKey, object, undefined);
  hooksFor(storeKey).afterCommit?.(stored, request);
  return { object: stored.object, written: true };
}

export type UpdateMode = 'main' | 'status';

export interface UpdateOptions {
  mode: UpdateMode;
  /** PUT of a custom resource must carry a resourceVersion (no unconditional update). */
  requireResourceVersion: boolean;
  /** Server-side apply already recorded its managedFields entry. */
  applied?: boolean;
}

const SYSTEM_FIELDS = ['uid', 'creationTimestamp', 'generation', 'deletionTimestamp', 'deletionGracePeriodSeconds'] as const;

function withoutVolatile(object: KubeObject): KubeObject {
  const { resourceVersion: _rv, managedFields: _fields, ...metadata } = object.metadata;
  return { ...object, metadata };
}

function specChanged(request: WriteRequest, before: KubeObject, after: KubeObject): boolean {
  const strip = (object: KubeObject): Record<string, unknown> => {
    const { metadata: _metadata, status, ...rest } = object;
    return request.version.statusSubresource ? rest : { ...rest, status };
  };
  return !deepEqual(strip(before), strip(after));
}

export function updateObject(request: WriteRequest, existing: StoredObject, body: unknown, options: UpdateOptions): WriteResult {
  const candidate = asObject(body);
  const target = targetOf(request, existing.name);
  if (candidate.metadata.name !== undefined && candidate.metadata.name !== existing.name) {
    throw badRequest(`the name of the object (${candidate.metadata.name}) does not match the name on the URL (${existing.name})`);
  }
  if (request.type.namespaced && candidate.metadata.namespace && candidate.metadata.namespace !== existing.namespace) {
    throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
  }
  const rv = candidate.metadata.resourceVersion;
  if (rv === undefined || rv === '') {
    if (options.requireResourceVersion) {
      throw invalid(target, [{ field: 'metadata.resourceVersion', type: 'FieldValueInvalid', detail: 'Invalid value: 0x0: must be specified for an update' }]);
    }
  } else if (rv !== existing.object.metadata.resourceVersion) {
    throw conflict(target);
  }
  checkKind(request, candidate);
  const old = existing.object;
  let next: KubeObject;
  if (options.mode === 'status') {
    next = { ...deepClone(old), status: candidate.status };
    if (candidate.status === undefined) delete next.status;
  } else {
    next = candidate;
    for (const field of SYSTEM_FIELDS) {
      if (old.metadata[field] === undefined) delete next.metadata[field];
      else (next.metadata as Record<string, unknown>)[field] = old.metadata[field];
    }
    next.metadata.name = existing.name;
    if (request.type.namespaced) next.metadata.namespace = existing.namespace;
    else delete next.metadata.namespace;
    if (!next.metadata.managedFields) next.metadata.managedFields = old.metadata.managedFields;
    if (request.version.statusSubresource) {
      if (old.status === undefined) delete next.status;
      else next.status = deepClone(old.status);
    }
  }
  if (old.metadata.deletionTimestamp) {
    const added = (next.metadata.finalizers ?? []).filter((finalizer) => !(old.metadata.finalizers ?? []).includes(finalizer));
    if (added.length > 0) {
      throw invalid(target, [{ field: 'metadata.finalizers', type: 'FieldValueForbidden', detail: `Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}` }]);
    }
  }
  admit(request, next, old);
  if (request.type.tracksGeneration && specChanged(request, old, next)) next.metadata.generation = (old.metadata.generation ?? 0) + 1;
  if (deepEqual(withoutVolatile(old), withoutVolatile(next))) return { object: old, written: false };
  if (!options.applied) stamp(request, next, 'Update');
  if (request.dryRun) return { object: next, written: false };
  const storeKey = storeKeyOf(request.type);
  const storage = request.state.storage;
  if (next.metadata.deletionTimestamp && (next.metadata.finalizers ?? []).length === 0) {
    return { object: storage.remove(storeKey, storage.commit(storeKey, next, existing)).object, written: true };
  }
  const stored = storage.commit(storeKey, next, existing);
  hooksFor(storeKey).afterCommit?.(stored, request);
  return { object: stored.object, written: true };
}

export function requireExisting(request: WriteRequest, namespace: string, name: string): StoredObject {
  const existing = request.state.storage.get(storeKeyOf(request.type), request.type.namespaced ? namespace : '', name);
  if (!existing) throw notFound(targetOf(request, name));
  return existing;
}
