import { CelRuntimeError, runCel } from './cel.ts';
import { CelUnsupported, compileCel } from './cel-parser.ts';
import { quoteValue } from './errors.ts';
import type { FieldProblem } from './errors.ts';
import { deepClone, deepEqual, isObject } from './types.ts';

/**
 * Structural-schema handling of custom resources, in the order the real server applies it: prune
 * unknown fields, apply defaults, validate (OpenAPI keywords, then `x-kubernetes-validations`).
 * Mutates the object it is given (a fresh copy owned by the write in progress).
 */

type Schema = Record<string, unknown>;

export interface SchemaOutcome {
  problems: FieldProblem[];
  /** Paths of pruned fields, for `fieldValidation=Strict` errors and Warn headers. */
  unknownFields: string[];
}

export type CelLogger = (message: string) => void;

interface Context extends SchemaOutcome { log: CelLogger; checkOnly: boolean }

const ROOT_FIELDS = new Set(['apiVersion', 'kind', 'metadata']);
const ROOT = '<nil>';

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value === 'object' ? 'object' : typeof value;
}

function typeMatches(schema: Schema, value: unknown): boolean {
  const actual = typeName(value);
  if (schema['x-kubernetes-int-or-string'] === true) return actual === 'integer' || actual === 'string';
  const expected = schema.type;
  if (typeof expected !== 'string') return true;
  if (expected === 'number') return actual === 'number' || actual === 'integer';
  return expected === actual;
}

function child(path: string, name: string): string {
  return path === ROOT ? name : `${path}.${name}`;
}

function fieldName(path: string): string {
  return path === ROOT ? 'body' : path;
}

export function validateAgainstSchema(schema: Schema, object: Record<string, unknown>, old: unknown, log: CelLogger): SchemaOutcome {
  const context: Context = { problems: [], unknownFields: [], log, checkOnly: false };
  walk(schema, object, ROOT, old, context, true);
  return { problems: context.problems, unknownFields: context.unknownFields };
}

function walk(schema: Schema, value: unknown, path: string, old: unknown, context: Context, root = false): void {
  if (value === null) {
    if (schema.nullable !== true) problem(context, path, 'FieldValueTypeInvalid', `Invalid value: "null": ${fieldName(path)} in body must be of type ${String(schema.type ?? 'object')}: "null"`);
    return;
  }
  if (!typeMatches(schema, value)) {
    const expected = schema['x-kubernetes-int-or-string'] === true ? 'integer or string' : String(schema.type);
    problem(context, path, 'FieldValueTypeInvalid', `Invalid value: "${typeName(value)}": ${fieldName(path)} in body must be of type ${expected}: "${typeName(value)}"`);
    return;
  }
  if (isObject(value)) walkObject(schema, value, path, isObject(old) ? old : undefined, context, root);
  else if (Array.isArray(value)) walkArray(schema, value, path, Array.isArray(old) ? old : undefined, context);
  else checkScalar(schema, value, path, context);
  checkEnum(schema, value, path, context);
  checkCombinators(schema, value, path, context);
  checkRules(schema, value, path, old, context);
}

function walkObject(schema: Schema, value: Record<string, unknown>, path: string, old: Record<string, unknown> | undefined, context: Context, root: boolean): void {
  const properties = isObject(schema.properties) ? (schema.properties as Record<string, Schema>) : {};
  const additional = schema.additionalProperties;
  const preserve = schema['x-kubernetes-preserve-unknown-fields'] === true || additional === true;
  const embedded = schema['x-kubernetes-embedded-resource'] === true;
  for (const [name, propertySchema] of Object.entries(properties)) {
    if (root && ROOT_FIELDS.has(name)) continue;
    if (value[name] === null && propertySchema.nullable !== true && !context.checkOnly) delete value[name];
    if (value[name] === undefined && propertySchema.default !== undefined && !context.checkOnly) value[name] = deepClone(propertySchema.default);
  }
  for (const name of Object.keys(value)) {
    const propertySchema = properties[name];
    const at = child(path, name);
    if ((root || embedded) && ROOT_FIELDS.has(name)) continue;
    if (propertySchema) walk(propertySchema, value[name], at, old?.[name], context);
    else if (isObject(additional)) walk(additional as Schema, value[name], `${path}[${name}]`, old?.[name], context);
    else if (!preserve) {
      context.unknownFields.push(at);
      if (!context.checkOnly) delete value[name];
    }
  }
  for (const name of Array.isArray(schema.required) ? (schema.required as string[]) : []) {
    if (value[name] === undefined) problem(context, child(path, name), 'FieldValueRequired', 'Required value');
  }
  const count = Object.keys(value).length;
  if (typeof schema.minProperties === 'number' && count < schema.minProperties) {
    problem(context, path, 'FieldValueInvalid', `Invalid value: ${count}: ${fieldName(path)} in body should have at least ${schema.minProperties} properties`);
  }
  if (typeof schema.maxProperties === 'number' && count > schema.maxProperties) {
    problem(context, path, 'FieldValueInvalid', `Too many: ${count}: must have at most ${schema.maxProperties} items`);
  }
}

function walkArray(schema: Schema, value: unknown[], path: string, old: unknown[] | undefined, context: Context): void {
  if (isObject(schema.items)) {
    value.forEach((item, index) => walk(schema.items as Schema, item, `${path}[${index}]`, old?.[index], context));
  }
  if (typeof schema.minItems === 'number' && value.length < schema.minItems) {
    problem(context, path, 'FieldValueInvalid', `Invalid value: ${value.length}: ${fieldName(path)} in body should have at least ${schema.minItems} items`);
  }
  if (typeof schema.maxItems === 'number' && value.length > schema.maxItems) {
    problem(context, path, 'FieldValueInvalid', `Too many: ${value.length}: must have at most ${schema.maxItems} items`);
  }
  const unique = schema.uniqueItems === true || schema['x-kubernetes-list-type'] === 'set';
  if (unique) {
    value.forEach((item, index) => {
      if (value.findIndex((other) => deepEqual(other, item)) < index) problem(context, `${path}[${index}]`, 'FieldValueDuplicate', `Duplicate value: ${quoteValue(item)}`);
    });
  }
}

function checkScalar(schema: Schema, value: unknown, path: string, context: Context): void {
  const field = fieldName(path);
  if (typeof value === 'string') {
    const length = [...value].length;
    if (typeof schema.maxLength === 'number' && length > schema.maxLength) problem(context, path, 'FieldValueTooLong', `Too long: may not be more than ${schema.maxLength} bytes`);
    if (typeof schema.minLength === 'number' && length < schema.minLength) problem(context, path, 'FieldValueInvalid', `Invalid value: ${quoteValue(value)}: ${field} in body should be at least ${schema.minLength} chars long`);
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value)) problem(context, path, 'FieldValueInvalid', `Invalid value: ${quoteValue(value)}: ${field} in body should match '${schema.pattern}'`);
  }
  if (typeof value === 'number') {
    const bound = (limit: unknown, exclusive: unknown, below: boolean): void => {
      if (typeof limit !== 'number') return;
      const broken = below ? (exclusive === true ? value <= limit : value < limit) : (exclusive === true ? value >= limit : value > limit);
      if (!broken) return;
      const words = below ? `greater than${exclusive === true ? '' : ' or equal to'}` : `less than${exclusive === true ? '' : ' or equal to'}`;
      problem(context, path, 'FieldValueInvalid', `Invalid value: ${value}: ${field} in body should be ${words} ${limit}`);
    };
    bound(schema.minimum, schema.exclusiveMinimum, true);
    bound(schema.maximum, schema.exclusiveMaximum, false);
    if (typeof schema.multipleOf === 'number' && value % schema.multipleOf !== 0) problem(context, path, 'FieldValueInvalid', `Invalid value: ${value}: ${field} in body should be a multiple of ${schema.multipleOf}`);
  }
}

function checkEnum(schema: Schema, value: unknown, path: string, context: Context): void {
  if (!Array.isArray(schema.enum) || schema.enum.some((allowed) => deepEqual(allowed, value))) return;
  const supported = schema.enum.map((allowed) => JSON.stringify(allowed)).join(', ');
  problem(context, path, 'FieldValueNotSupported', `Unsupported value: ${quoteValue(value)}: supported values: ${supported}`);
}

/** allOf/anyOf/oneOf/not only validate (structural schemas forbid them from pruning or defaulting). */
function passes(schema: Schema, value: unknown, path: string, context: Context): boolean {
  const probe: Context = { problems: [], unknownFields: [], log: context.log, checkOnly: true };
  walk({ ...schema, 'x-kubernetes-preserve-unknown-fields': true }, value, path, undefined, probe);
  return probe.problems.length === 0;
}

function checkCombinators(schema: Schema, value: unknown, path: string, context: Context): void {
  const list = (key: string): Schema[] => (Array.isArray(schema[key]) ? (schema[key] as Schema[]) : []);
  for (const sub of list('allOf')) if (!passes(sub, value, path, context)) problem(context, path, 'FieldValueInvalid', `Invalid value: ${quoteValue(value)}: ${fieldName(path)} in body must match all schemas in allOf`);
  const anyOf = list('anyOf');
  if (anyOf.length > 0 && !anyOf.some((sub) => passes(sub, value, path, context))) problem(context, path, 'FieldValueInvalid', `Invalid value: ${quoteValue(value)}: ${fieldName(path)} in body must match at least one schema in anyOf`);
  const oneOf = list('oneOf');
  if (oneOf.length > 0 && oneOf.filter((sub) => passes(sub, value, path, context)).length !== 1) problem(context, path, 'FieldValueInvalid', `Invalid value: ${quoteValue(value)}: ${fieldName(path)} in body must match exactly one schema in oneOf`);
  if (isObject(schema.not) && passes(schema.not as Schema, value, path, context)) problem(context, path, 'FieldValueInvalid', `Invalid value: ${quoteValue(value)}: ${fieldName(path)} in body must not match the schema in not`);
}

/** Rules outside the subset are reported once, not once per object. */
const reported = new Set<string>();

const RULE_REASONS: Record<string, FieldProblem['type']> = {
  FieldValueInvalid: 'FieldValueInvalid',
  FieldValueForbidden: 'FieldValueForbidden',
  FieldValueRequired: 'FieldValueRequired',
  FieldValueDuplicate: 'FieldValueDuplicate',
};

function checkRules(schema: Schema, value: unknown, path: string, old: unknown, context: Context): void {
  const rules = schema['x-kubernetes-validations'];
  if (!Array.isArray(rules) || context.checkOnly) return;
  for (const rule of rules as Array<Record<string, unknown>>) {
    if (typeof rule.rule !== 'string') continue;
    let failure: string | undefined;
    try {
      const program = compileCel(rule.rule);
      if (program.usesOldSelf && old === undefined) continue;
      const result = runCel(program, value, old);
      if (result !== true) failure = typeof rule.message === 'string' ? rule.message : `failed rule: ${rule.rule}`;
    } catch (error) {
      if (error instanceof CelUnsupported) {
        if (!reported.has(rule.rule)) context.log(`CEL rule at ${fieldName(path)} is outside the supported subset and was not checked (${error.message}): ${rule.rule}`);
        reported.add(rule.rule);
        continue;
      }
      if (!(error instanceof CelRuntimeError)) throw error;
      failure = `${error.message} evaluating rule: ${rule.rule}`;
    }
    if (failure === undefined) continue;
    const at = typeof rule.fieldPath === 'string' ? `${path === ROOT ? '' : path}${rule.fieldPath}`.replace(/^\./, '') : path;
    const type = RULE_REASONS[String(rule.reason)] ?? 'FieldValueInvalid';
    const detail = type === 'FieldValueRequired' ? `Required value: ${failure}`
      : type === 'FieldValueForbidden' ? `Forbidden: ${failure}`
        : `Invalid value: ${quoteValue(isObject(value) ? {} : value)}: ${failure}`;
    problem(context, at, type, detail);
  }
}

function problem(context: Context, field: string, type: FieldProblem['type'], detail: string): void {
  context.problems.push({ field, type, detail });
}
