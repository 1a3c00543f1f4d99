import { z } from 'zod';

/** A node of a Kubernetes structural OpenAPI v3 schema (the subset the CRDs use). */
export interface StructuralSchema {
  type: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  description?: string;
  default?: unknown;
  enum?: unknown[];
  format?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  properties?: Record<string, StructuralSchema>;
  required?: string[];
  items?: StructuralSchema;
  additionalProperties?: StructuralSchema;
  'x-kubernetes-preserve-unknown-fields'?: true;
  'x-kubernetes-list-type'?: 'map' | 'set' | 'atomic';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-validations'?: Array<{ rule: string; message: string }>;
}

type JsonSchema = Record<string, unknown>;

const TYPES = new Set(['object', 'array', 'string', 'integer', 'number', 'boolean']);
/** zod renders "any safe integer" as these bounds; Kubernetes needs no bound there */
const UNBOUNDED = Number.MAX_SAFE_INTEGER;
const COPIED = ['description', 'default', 'enum', 'minLength', 'maxLength', 'pattern', 'minItems', 'maxItems', 'required'] as const;
/** formats the apiserver knows; others would be ignored by it and mislead readers */
const KNOWN_FORMATS = new Set(['uri', 'email', 'date-time', 'date', 'uuid', 'hostname', 'ipv4', 'ipv6', 'byte', 'int32', 'int64', 'double', 'float']);

export class SchemaConversionError extends Error {}

/**
 * Converts a zod schema to the structural form Kubernetes demands of a CRD: `type` on every node, no
 * $ref/anyOf/oneOf, no `additionalProperties: false` (unknown fields are pruned anyway), free-form maps as
 * `x-kubernetes-preserve-unknown-fields`, and draft 2020 numeric exclusive bounds as OpenAPI v3.0 booleans.
 * Throws, naming the path, on anything it cannot express, and on a field without a description: every
 * field must read well in `kubectl explain`.
 */
export function toStructuralSchema(schema: z.ZodType, io: 'input' | 'output'): StructuralSchema {
  const json = z.toJSONSchema(schema, { io, unrepresentable: 'throw', reused: 'inline', cycles: 'throw' }) as JsonSchema;
  return convert(json, '', false);
}

function convert(node: JsonSchema, path: string, needsDescription: boolean): StructuralSchema {
  for (const forbidden of ['$ref', 'anyOf', 'oneOf', 'allOf', 'not']) {
    if (forbidden in node) throw new SchemaConversionError(`${path || '<root>'}: ${forbidden} is not allowed in a structural schema`);
  }
  const type = node['type'];
  if (typeof type !== 'string' || !TYPES.has(type)) throw new SchemaConversionError(`${path || '<root>'}: needs a single type, got ${JSON.stringify(type)}`);
  if (needsDescription && typeof node['description'] !== 'string') throw new SchemaConversionError(`${path || '<root>'}: has no description (add .describe() to the zod field)`);
  const out: StructuralSchema = { type: type as StructuralSchema['type'] };
  for (const key of COPIED) {
    if (node[key] !== undefined) (out as unknown as Record<string, unknown>)[key] = node[key];
  }
  if (typeof node['format'] === 'string' && KNOWN_FORMATS.has(node['format'])) out.format = node['format'];
  bounds(node, out);
  if (node['properties']) {
    out.properties = {};
    for (const [name, child] of Object.entries(node['properties'] as Record<string, JsonSchema>)) {
      out.properties[name] = convert(child, path ? `${path}.${name}` : name, true);
    }
  }
  if (node['items']) out.items = convert(node['items'] as JsonSchema, `${path}[]`, true);
  const extra = node['additionalProperties'];
  if (extra !== undefined && extra !== false) {
    const free = extra === true || (typeof extra === 'object' && extra !== null && Object.keys(extra).length === 0);
    if (free) out['x-kubernetes-preserve-unknown-fields'] = true;
    else out.additionalProperties = convert(extra as JsonSchema, `${path}{}`, false);
  } else if (type === 'object' && !node['properties']) {
    out['x-kubernetes-preserve-unknown-fields'] = true;
  }
  if (out.required?.length === 0) delete out.required;
  return out;
}

function bounds(node: JsonSchema, out: StructuralSchema): void {
  const min = node['minimum'];
  const max = node['maximum'];
  if (typeof min === 'number' && Math.abs(min) < UNBOUNDED) out.minimum = min;
  if (typeof max === 'number' && Math.abs(max) < UNBOUNDED) out.maximum = max;
  if (typeof node['exclusiveMinimum'] === 'number') {
    out.minimum = node['exclusiveMinimum'];
    out.exclusiveMinimum = true;
  }
  if (typeof node['exclusiveMaximum'] === 'number') {
    out.maximum = node['exclusiveMaximum'];
    out.exclusiveMaximum = true;
  }
}

/**
 * The problems that make a schema non-structural (empty when it is structural): every node typed,
 * properties and additionalProperties never together, no forbidden keywords. Used by the drift test.
 */
export function structuralProblems(node: unknown, path = ''): string[] {
  const problems: string[] = [];
  if (typeof node !== 'object' || node === null) return [`${path || '<root>'}: not a schema object`];
  const schema = node as Record<string, unknown>;
  const preserve = schema['x-kubernetes-preserve-unknown-fields'] === true;
  if (typeof schema['type'] !== 'string' && !preserve) problems.push(`${path || '<root>'}: has no type`);
  for (const forbidden of ['$ref', 'anyOf', 'oneOf', 'allOf', 'not', '$schema', 'propertyNames', 'definitions', '$defs']) {
    if (forbidden in schema) problems.push(`${path || '<root>'}: uses ${forbidden}`);
  }
  if (schema['additionalProperties'] !== undefined && schema['properties'] !== undefined) problems.push(`${path || '<root>'}: has both properties and additionalProperties`);
  if (typeof schema['additionalProperties'] === 'boolean') problems.push(`${path || '<root>'}: additionalProperties must be a schema`);
  for (const [name, child] of Object.entries((schema['properties'] ?? {}) as Record<string, unknown>)) problems.push(...structuralProblems(child, path ? `${path}.${name}` : name));
  if (schema['items'] !== undefined) problems.push(...structuralProblems(schema['items'], `${path}[]`));
  if (typeof schema['additionalProperties'] === 'object') problems.push(...structuralProblems(schema['additionalProperties'], `${path}{}`));
  return problems;
}
