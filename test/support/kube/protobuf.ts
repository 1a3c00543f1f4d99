import { unsupportedMediaType } from './errors.ts';

/**
 * kubectl's typed generators (`kubectl create namespace|configmap|secret|serviceaccount`) send
 * protobuf, as does `kubectl auth can-i`, and kubectl 1.32 does not fall back to JSON on a 415. This
 * decodes the Kubernetes protobuf envelope (`k8s\0` + runtime.Unknown) for those few kinds; anything
 * else stays a 415.
 */

type Field =
  | 'string' | 'int' | 'bool' | 'bytes' | 'strings'
  | { map: 'string' | 'bytes' }
  | { message: Schema; repeated?: boolean };
interface Schema { [field: number]: [string, Field] }

const OWNER_REFERENCE: Schema = { 1: ['kind', 'string'], 3: ['name', 'string'], 4: ['uid', 'string'], 5: ['apiVersion', 'string'], 6: ['controller', 'bool'], 7: ['blockOwnerDeletion', 'bool'] };
const OBJECT_META: Schema = {
  1: ['name', 'string'], 2: ['generateName', 'string'], 3: ['namespace', 'string'], 5: ['uid', 'string'],
  6: ['resourceVersion', 'string'], 7: ['generation', 'int'], 11: ['labels', { map: 'string' }], 12: ['annotations', { map: 'string' }],
  13: ['ownerReferences', { message: OWNER_REFERENCE, repeated: true }], 14: ['finalizers', 'strings'],
};
const LOCAL_REFERENCE: Schema = { 1: ['name', 'string'] };

const RESOURCE_ATTRIBUTES: Schema = { 1: ['namespace', 'string'], 2: ['verb', 'string'], 3: ['group', 'string'], 4: ['version', 'string'], 5: ['resource', 'string'], 6: ['subresource', 'string'], 7: ['name', 'string'] };
const ACCESS_REVIEW: Schema = { 1: ['metadata', { message: OBJECT_META }], 2: ['spec', { message: { 1: ['resourceAttributes', { message: RESOURCE_ATTRIBUTES }] } }] };

const KINDS: Record<string, Schema> = {
  SelfSubjectAccessReview: ACCESS_REVIEW,
  SubjectAccessReview: ACCESS_REVIEW,
  SelfSubjectRulesReview: { 1: ['metadata', { message: OBJECT_META }], 2: ['spec', { message: { 1: ['namespace', 'string'] } }] },
  Namespace: { 1: ['metadata', { message: OBJECT_META }], 2: ['spec', { message: { 1: ['finalizers', 'strings'] } }] },
  ConfigMap: { 1: ['metadata', { message: OBJECT_META }], 2: ['data', { map: 'string' }], 3: ['binaryData', { map: 'bytes' }], 4: ['immutable', 'bool'] },
  Secret: { 1: ['metadata', { message: OBJECT_META }], 2: ['data', { map: 'bytes' }], 3: ['type', 'string'], 4: ['stringData', { map: 'string' }], 5: ['immutable', 'bool'] },
  ServiceAccount: { 1: ['metadata', { message: OBJECT_META }], 3: ['imagePullSecrets', { message: LOCAL_REFERENCE, repeated: true }], 4: ['automountServiceAccountToken', 'bool'] },
};

interface Entry { field: number; wire: number; value: bigint | Buffer }

function readVarint(buffer: Buffer, offset: number): [bigint, number] {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    const byte = buffer[offset++];
    if (byte === undefined) throw new Error('truncated varint');
    result |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return [result, offset];
    shift += 7n;
  }
}

function entries(buffer: Buffer): Entry[] {
  const found: Entry[] = [];
  let offset = 0;
  while (offset < buffer.length) {
    const [tag, next] = readVarint(buffer, offset);
    offset = next;
    const field = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    if (wire === 0) {
      const [value, after] = readVarint(buffer, offset);
      offset = after;
      found.push({ field, wire, value });
    } else if (wire === 2) {
      const [length, after] = readVarint(buffer, offset);
      offset = after + Number(length);
      found.push({ field, wire, value: buffer.subarray(after, offset) });
    } else if (wire === 1 || wire === 5) {
      offset += wire === 1 ? 8 : 4;
    } else {
      throw new Error(`unsupported wire type ${wire}`);
    }
  }
  return found;
}

function decodeMessage(buffer: Buffer, schema: Schema): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const entry of entries(buffer)) {
    const known = schema[entry.field];
    if (!known) continue;
    const [name, type] = known;
    const bytes = entry.value as Buffer;
    if (type === 'string') result[name] = bytes.toString('utf8');
    else if (type === 'bytes') result[name] = bytes.toString('base64');
    else if (type === 'int') result[name] = Number(entry.value as bigint);
    else if (type === 'bool') result[name] = (entry.value as bigint) !== 0n;
    else if (type === 'strings') result[name] = [...((result[name] as string[] | undefined) ?? []), bytes.toString('utf8')];
    else if ('map' in type) {
      const pair = decodeMessage(bytes, { 1: ['key', 'string'], 2: ['value', type.map === 'bytes' ? 'bytes' : 'string'] });
      result[name] = { ...(result[name] as Record<string, unknown> | undefined), [String(pair.key ?? '')]: pair.value ?? '' };
    } else {
      const message = decodeMessage(bytes, type.message);
      result[name] = type.repeated ? [...((result[name] as unknown[] | undefined) ?? []), message] : message;
    }
  }
  return result;
}

export function decodeKubernetesProtobuf(body: Buffer): unknown {
  const reject = () => unsupportedMediaType('application/vnd.kubernetes.protobuf', ['application/json', 'application/yaml']);
  if (body.subarray(0, 4).toString('latin1') !== 'k8s\u0000') throw reject();
  let unknown: Record<string, unknown>;
  try {
    unknown = decodeMessage(body.subarray(4), {
      1: ['typeMeta', { message: { 1: ['apiVersion', 'string'], 2: ['kind', 'string'] } }],
      2: ['raw', 'bytes'],
    });
  } catch {
    throw reject();
  }
  const typeMeta = (unknown.typeMeta ?? {}) as { apiVersion?: string; kind?: string };
  const schema = KINDS[typeMeta.kind ?? ''];
  if (!schema || typeof unknown.raw !== 'string') throw reject();
  return { apiVersion: typeMeta.apiVersion, kind: typeMeta.kind, ...decodeMessage(Buffer.from(unknown.raw, 'base64'), schema) };
}
