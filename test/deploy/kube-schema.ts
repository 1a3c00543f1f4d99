import * as k8s from '@kubernetes/client-node';

/**
 * Strict structural check of a built-in Kubernetes object against the OpenAPI-generated models of
 * @kubernetes/client-node: every field must exist in its type (a misspelt `readinesProbe` is an error,
 * where a real API server would silently drop it) and hold a value of the right JSON type.
 */

interface Attribute {
  name: string;
  baseName: string;
  type: string;
}

type Model = { attributeTypeMap?: Attribute[]; getAttributeTypeMap?: () => Attribute[] };

const models = k8s as unknown as Record<string, Model | undefined>;

/** The client-node model for apiVersion/kind, e.g. apps/v1 Deployment -> V1Deployment; undefined when there is none. */
export function modelName(apiVersion: string, kind: string): string | undefined {
  const version = apiVersion.split('/').pop() ?? '';
  const name = `${version.charAt(0).toUpperCase()}${version.slice(1)}${kind}`;
  return models[name]?.getAttributeTypeMap ? name : undefined;
}

function attributes(type: string): Attribute[] | undefined {
  const model = models[type];
  return model?.getAttributeTypeMap?.() ?? model?.attributeTypeMap;
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function check(value: unknown, type: string, path: string, problems: string[]): void {
  if (type === 'any' || type === 'object') return;
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    if (!Array.isArray(value)) {
      problems.push(`${path}: expected an array (${type}), got ${jsonType(value)}`);
      return;
    }
    value.forEach((item, i) => check(item, array[1] as string, `${path}[${i}]`, problems));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (jsonType(value) !== 'object') {
      problems.push(`${path}: expected a map (${type}), got ${jsonType(value)}`);
      return;
    }
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) check(item, map[1] as string, `${path}.${key}`, problems);
    return;
  }
  switch (type) {
    case 'string':
    case 'Date':
      if (typeof value !== 'string') problems.push(`${path}: expected a string, got ${jsonType(value)} ${JSON.stringify(value)}`);
      return;
    case 'number':
      if (typeof value !== 'number') problems.push(`${path}: expected a number, got ${jsonType(value)} ${JSON.stringify(value)}`);
      return;
    case 'boolean':
      if (typeof value !== 'boolean') problems.push(`${path}: expected a boolean, got ${jsonType(value)} ${JSON.stringify(value)}`);
      return;
    case 'IntOrString':
      if (typeof value !== 'string' && typeof value !== 'number') problems.push(`${path}: expected an integer or a string, got ${jsonType(value)}`);
      return;
  }
  const fields = attributes(type);
  if (!fields) {
    problems.push(`${path}: no model ${type} in @kubernetes/client-node to check against`);
    return;
  }
  if (jsonType(value) !== 'object') {
    problems.push(`${path}: expected an object (${type}), got ${jsonType(value)}`);
    return;
  }
  const byName = new Map(fields.map((f) => [f.baseName, f]));
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
    const field = byName.get(key);
    if (!field) {
      problems.push(`${path}.${key}: unknown field of ${type}`);
      continue;
    }
    if (item === null) continue;
    check(item, field.type, `${path}.${key}`, problems);
  }
}

/** Problems of one object ("" path is the object itself); throws when its kind has no model. */
export function validateBuiltin(object: { apiVersion: string; kind: string }): string[] {
  const name = modelName(object.apiVersion, object.kind);
  if (!name) throw new Error(`no @kubernetes/client-node model for ${object.apiVersion} ${object.kind}`);
  const problems: string[] = [];
  check(object, name, `${object.kind}`, problems);
  return problems;
}
