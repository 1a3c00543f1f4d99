/**
 * Every failure leaves the server as a `Status` object with the reason and code the real API server
 * uses, because clients branch on them (client-node relists on 410, kubectl apply creates on 404).
 */

export interface StatusCause { reason: string; message: string; field?: string }

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure';
  message: string;
  reason: string;
  details?: StatusDetails;
  code: number;
}

export class KubeError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly details: StatusDetails | undefined;

  constructor(code: number, reason: string, message: string, details?: StatusDetails) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.details = details;
  }

  toStatus(): Status {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    };
  }
}

/** What an error names: `scheduledtasks.scheduling.hourglass.dev "nightly"` in messages. */
export interface Target { resource: string; group: string; kind: string; name: string }

function qualified(target: Target): string {
  return target.group ? `${target.resource}.${target.group}` : target.resource;
}

function detailsOf(target: Target): StatusDetails {
  return { name: target.name, group: target.group, kind: target.resource };
}

export function notFound(target: Target): KubeError {
  return new KubeError(404, 'NotFound', `${qualified(target)} "${target.name}" not found`, detailsOf(target));
}

export function alreadyExists(target: Target): KubeError {
  return new KubeError(409, 'AlreadyExists', `${qualified(target)} "${target.name}" already exists`, detailsOf(target));
}

export function conflict(target: Target, why = 'the object has been modified; please apply your changes to the latest version and try again'): KubeError {
  return new KubeError(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(target)} "${target.name}": ${why}`, detailsOf(target));
}

export function gone(message: string): KubeError {
  return new KubeError(410, 'Expired', message);
}

export function badRequest(message: string): KubeError {
  return new KubeError(400, 'BadRequest', message);
}

export function methodNotAllowed(message: string): KubeError {
  return new KubeError(405, 'MethodNotAllowed', message);
}

export function forbidden(message: string): KubeError {
  return new KubeError(403, 'Forbidden', message);
}

export function unsupportedMediaType(contentType: string, accepted: string[]): KubeError {
  return new KubeError(415, 'UnsupportedMediaType',
    `the body of the request was in an unknown format (${contentType}) - accepted media types include: ${accepted.join(', ')}`);
}

/** One field problem, in the apimachinery `field.Error` vocabulary. */
export interface FieldProblem {
  field: string;
  type: 'FieldValueInvalid' | 'FieldValueRequired' | 'FieldValueNotSupported' | 'FieldValueForbidden' | 'FieldValueTooLong' | 'FieldValueDuplicate' | 'FieldValueTypeInvalid';
  /** The text after the field, e.g. `Required value` or `Invalid value: 0: must be >= 1`. */
  detail: string;
}

/** 422 Invalid, formatted like `Kind.group "name" is invalid: [a: ..., b: ...]`. */
export function invalid(target: Target, problems: FieldProblem[]): KubeError {
  const parts = problems.map((problem) => `${problem.field}: ${problem.detail}`);
  const listed = parts.length === 1 ? parts[0] : `[${parts.join(', ')}]`;
  const kindGroup = target.group ? `${target.kind}.${target.group}` : target.kind;
  return new KubeError(422, 'Invalid', `${kindGroup} "${target.name}" is invalid: ${listed}`, {
    name: target.name,
    group: target.group,
    kind: target.kind,
    causes: problems.map((problem) => ({ reason: problem.type, message: problem.detail, field: problem.field })),
  });
}

/** Renders a value the way field errors quote it: strings quoted, objects as their type name. */
export function quoteValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return '"array"';
  if (value !== null && typeof value === 'object') return '"object"';
  return String(value);
}
