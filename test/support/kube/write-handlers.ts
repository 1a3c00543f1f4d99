import { parse as parseYaml } from 'yaml';
import { answerAccessReview, isAccessReview } from './access-reviews.ts';
import type { WriteRequest } from './api-state.ts';
import { nowTimestamp } from './api-state.ts';
import { badRequest, invalid, KubeError, methodNotAllowed, unsupportedMediaType } from './errors.ts';
import { mediaType, parseBody, readBody, sendJson } from './http-io.ts';
import { jsonPatch, mergePatch } from './json-patches.ts';
import { deleteObject } from './lifecycle.ts';
import type { DeleteOptions } from './lifecycle.ts';
import type { StoredObject } from './object-store.ts';
import { decodeKubernetesProtobuf } from './protobuf.ts';
import { apiVersion, atVersion, matcher, requireSubresource, respondObject, scope, writeRequest } from './resource-call.ts';
import type { ResourceCall } from './resource-call.ts';
import { storeKeyOf } from './resource-type.ts';
import { applyScale, toScale } from './scale.ts';
import { serverSideApply } from './server-side-apply.ts';
import { strategicMergePatch } from './strategic-merge.ts';
import type { KubeObject } from './types.ts';
import { isObject } from './types.ts';
import { createObject, requireExisting, updateObject } from './write-pipeline.ts';

/** create, update, patch (four patch types, server-side apply), delete and deletecollection. */

const PATCH_TYPES = ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/apply-patch+yaml'];

async function body(call: ResourceCall): Promise<{ value: unknown; contentType: string }> {
  const contentType = mediaType(call.headers['content-type']) || 'application/json';
  const raw = await readBody(call.request);
  if (contentType === 'application/vnd.kubernetes.protobuf') return { value: decodeKubernetesProtobuf(raw), contentType };
  if (contentType !== 'application/json' && contentType !== 'application/yaml') throw unsupportedMediaType(contentType, ['application/json', 'application/yaml']);
  return { value: parseBody(raw, contentType), contentType };
}

export async function handleCreate(call: ResourceCall): Promise<void> {
  if (call.path.subresource) throw methodNotAllowed(`the server does not allow this method on the requested resource`);
  const request = writeRequest(call);
  const { value } = await body(call);
  if (isAccessReview(request.type.group, request.type.resource)) {
    sendJson(call.response, 201, { ...answerAccessReview(request.type.resource, value), apiVersion: apiVersion(call), kind: request.type.kind });
    return;
  }
  const result = createObject(request, value, scope(call));
  respondObject(call, 201, result.object, request.warnings);
}

function checkReplicas(call: ResourceCall, scale: KubeObject): void {
  const replicas = (scale.spec as { replicas?: unknown } | undefined)?.replicas;
  if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
    throw invalid({ resource: 'scale', group: 'autoscaling', kind: 'Scale', name: call.path.name as string },
      [{ field: 'spec.replicas', type: 'FieldValueInvalid', detail: `Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0` }]);
  }
}

export async function handleUpdate(call: ResourceCall): Promise<void> {
  const request = writeRequest(call);
  const target = requireSubresource(call);
  const { value } = await body(call);
  const existing = requireExisting(request, scope(call), call.path.name as string);
  if (target === 'scale') {
    const scale = value as KubeObject;
    checkReplicas(call, scale);
    const subresource = call.resolved.version.scale!;
    const result = updateObject(request, existing, applyScale(existing, subresource, scale), { mode: 'main', requireResourceVersion: false });
    sendJson(call.response, 200, toScale({ ...existing, object: result.object }, subresource));
    return;
  }
  const result = updateObject(request, existing, value, { mode: target, requireResourceVersion: call.resolved.type.custom });
  respondObject(call, 200, result.object, request.warnings);
}

function patched(call: ResourceCall, original: unknown, patch: unknown, contentType: string): unknown {
  switch (contentType) {
    case 'application/json-patch+json': return jsonPatch(original, patch);
    case 'application/merge-patch+json': return mergePatch(original, patch);
    case 'application/strategic-merge-patch+json':
      if (call.resolved.type.custom) throw unsupportedMediaType(contentType, PATCH_TYPES.filter((type) => !type.includes('strategic')));
      return strategicMergePatch(original, patch);
    default: throw unsupportedMediaType(contentType, PATCH_TYPES);
  }
}

export async function handlePatch(call: ResourceCall): Promise<void> {
  const request = writeRequest(call);
  const target = requireSubresource(call);
  const contentType = mediaType(call.headers['content-type']);
  if (!PATCH_TYPES.includes(contentType)) throw unsupportedMediaType(contentType, PATCH_TYPES);
  const raw = await readBody(call.request);
  const patch = contentType === 'application/apply-patch+yaml' ? parseYaml(raw.toString('utf8')) as unknown : parseBody(raw, contentType);
  const name = call.path.name as string;
  const existing = request.state.storage.get(storeKeyOf(request.type), scope(call), name);
  if (contentType === 'application/apply-patch+yaml') {
    await applyPatch(call, request, existing, patch, target);
    return;
  }
  const current = existing ?? requireExisting(request, scope(call), name);
  if (target === 'scale') {
    const subresource = call.resolved.version.scale!;
    const scale = patched(call, toScale(current, subresource), patch, contentType) as KubeObject;
    checkReplicas(call, scale);
    const result = updateObject(request, current, applyScale(current, subresource, scale), { mode: 'main', requireResourceVersion: false });
    sendJson(call.response, 200, toScale({ ...current, object: result.object }, subresource));
    return;
  }
  const next = patched(call, current.object, patch, contentType);
  const result = updateObject(request, current, next, { mode: target, requireResourceVersion: false });
  respondObject(call, 200, result.object, request.warnings);
}

async function applyPatch(call: ResourceCall, request: WriteRequest, existing: StoredObject | undefined, patch: unknown, target: 'main' | 'status' | 'scale'): Promise<void> {
  const manager = call.query.get('fieldManager');
  if (!manager) throw badRequest('PATCH requests with content type application/apply-patch+yaml require a field manager (fieldManager query parameter)');
  if (!isObject(patch) || !isObject(patch.metadata)) throw badRequest('the applied configuration must be an object with metadata');
  if (target === 'scale') throw unsupportedMediaType('application/apply-patch+yaml', PATCH_TYPES.slice(0, 2));
  const applied = patch as KubeObject;
  const merged = serverSideApply({
    existing: existing?.object,
    applied,
    manager,
    apiVersion: apiVersion(call),
    now: nowTimestamp(),
    keyedLists: !call.resolved.type.custom,
  });
  request.manager = manager;
  if (!existing) {
    if (target === 'status') throw new KubeError(404, 'NotFound', `${call.resolved.type.resource} "${call.path.name}" not found`);
    const result = createObject(request, { ...merged, metadata: { ...merged.metadata, name: call.path.name } }, scope(call));
    respondObject(call, 201, result.object, request.warnings);
    return;
  }
  const rv = applied.metadata.resourceVersion;
  merged.metadata.resourceVersion = rv ?? existing.object.metadata.resourceVersion;
  const result = updateObject(request, existing, merged, { mode: target, requireResourceVersion: false, applied: true });
  respondObject(call, 200, result.object, request.warnings);
}

async function deleteOptions(call: ResourceCall): Promise<DeleteOptions> {
  const raw = await readBody(call.request);
  const fromBody = raw.length > 0 ? (parseBody(raw, 'application/json') as Record<string, unknown>) : {};
  if (Array.isArray(fromBody.dryRun) && fromBody.dryRun.includes('All') && !call.query.has('dryRun')) call.query.append('dryRun', 'All');
  const propagation = call.query.get('propagationPolicy') ?? (typeof fromBody.propagationPolicy === 'string' ? fromBody.propagationPolicy : undefined);
  if (call.query.get('orphanDependents') === 'true' || fromBody.orphanDependents === true) return { propagationPolicy: 'Orphan' };
  return {
    ...(propagation ? { propagationPolicy: propagation } : {}),
    ...(isObject(fromBody.preconditions) ? { preconditions: fromBody.preconditions as DeleteOptions['preconditions'] } : {}),
  };
}

export async function handleDelete(call: ResourceCall): Promise<void> {
  if (call.path.subresource) throw methodNotAllowed('the server does not allow this method on the requested resource');
  const options = await deleteOptions(call);
  const request = writeRequest(call);
  const existing = requireExisting(request, scope(call), call.path.name as string);
  const result = deleteObject(request, existing, options);
  respondObject(call, 200, result.object);
}

export async function handleDeleteCollection(call: ResourceCall): Promise<void> {
  const options = await deleteOptions(call);
  const request = writeRequest(call);
  const matches = matcher(call);
  const deleted: KubeObject[] = [];
  for (const stored of call.state.storage.objects(storeKeyOf(request.type)).list(scope(call) || undefined)) {
    if (matches(stored.object)) deleted.push(deleteObject(request, stored, options).object);
  }
  sendJson(call.response, 200, { kind: request.type.listKind, apiVersion: apiVersion(call), metadata: { resourceVersion: String(call.state.storage.revision) }, items: deleted.map((object) => atVersion(call, object)) });
}

