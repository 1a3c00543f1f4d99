import type { FieldProblem } from './errors.ts';
import { quoteValue } from './errors.ts';
import type { KubeObject } from './types.ts';

/** ObjectMeta checks every kind gets: names, labels, annotation size, owner references. */

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const ANNOTATIONS_LIMIT = 256 * 1024;

function qualifiedNameProblem(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) return 'prefix part must be a lowercase RFC 1123 subdomain';
  if (name.length === 0 || name.length > 63 || !QUALIFIED_NAME.test(name)) {
    return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (max 63 characters)";
  }
  return undefined;
}

export function validateMetadata(object: KubeObject, nameMustBeLabel: boolean): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const meta = object.metadata;
  const name = meta.name ?? '';
  const pattern = nameMustBeLabel ? DNS_LABEL : DNS_SUBDOMAIN;
  const limit = nameMustBeLabel ? 63 : 253;
  if (!pattern.test(name) || name.length > limit) {
    const what = nameMustBeLabel ? 'RFC 1123 label' : 'RFC 1123 subdomain';
    problems.push({ field: 'metadata.name', type: 'FieldValueInvalid', detail: `Invalid value: ${quoteValue(name)}: a lowercase ${what} must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character` });
  }
  for (const [key, value] of Object.entries(meta.labels ?? {})) {
    const keyProblem = qualifiedNameProblem(key);
    if (keyProblem) problems.push({ field: 'metadata.labels', type: 'FieldValueInvalid', detail: `Invalid value: ${quoteValue(key)}: ${keyProblem}` });
    if (typeof value !== 'string' || value.length > 63 || !LABEL_VALUE.test(value)) {
      problems.push({ field: `metadata.labels`, type: 'FieldValueInvalid', detail: `Invalid value: ${quoteValue(value)}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (max 63 characters)` });
    }
  }
  let annotationBytes = 0;
  for (const [key, value] of Object.entries(meta.annotations ?? {})) {
    const keyProblem = qualifiedNameProblem(key);
    if (keyProblem) problems.push({ field: 'metadata.annotations', type: 'FieldValueInvalid', detail: `Invalid value: ${quoteValue(key)}: ${keyProblem}` });
    annotationBytes += Buffer.byteLength(key) + Buffer.byteLength(String(value));
  }
  if (annotationBytes > ANNOTATIONS_LIMIT) {
    problems.push({ field: 'metadata.annotations', type: 'FieldValueTooLong', detail: `Too long: must have at most ${ANNOTATIONS_LIMIT} bytes` });
  }
  (meta.ownerReferences ?? []).forEach((owner, index) => {
    for (const field of ['apiVersion', 'kind', 'name', 'uid'] as const) {
      if (!owner[field]) problems.push({ field: `metadata.ownerReferences[${index}].${field}`, type: 'FieldValueRequired', detail: 'Required value' });
    }
  });
  if (meta.finalizers !== undefined && !Array.isArray(meta.finalizers)) {
    problems.push({ field: 'metadata.finalizers', type: 'FieldValueTypeInvalid', detail: 'Invalid value: must be a list of strings' });
  }
  return problems;
}
