/**
 * The one table of error codes: what every component answers or reports, with its HTTP status, a
 * title and whether retrying the same request may succeed. docs/errors.md documents each (a test keeps
 * the two in sync both ways), and the API takes status and title from here.
 */
export interface ErrorInfo {
  status: number;
  title: string;
  /** the same request may succeed later (after Retry-After, or once the condition clears) */
  retryable: boolean;
}

const e = (status: number, title: string, retryable = false): ErrorInfo => ({ status, title, retryable });

export const ERROR_CODES = {
  HG_ERR_VALIDATION: e(400, 'Invalid request'),
  HG_ERR_AUTH_REQUIRED: e(401, 'Authentication required'),
  HG_ERR_AUTH_INVALID: e(401, 'Invalid credential'),
  HG_ERR_AUTH_TOKEN_EXPIRED: e(401, 'Token expired'),
  HG_ERR_AUTH_FORBIDDEN: e(403, 'Permission missing'),
  HG_ERR_AUTH_SCOPE: e(403, 'Outside the key\'s task types or pools'),
  HG_ERR_AUTH_THROTTLED: e(429, 'Too many failed authentications', true),
  HG_ERR_AUTH_JWT_DISABLED: e(409, 'Tokens are not enabled'),
  HG_ERR_HOST_NOT_LOOPBACK: e(403, 'Host not allowed without authentication'),
  HG_ERR_CROSS_SITE: e(403, 'Cross-site write refused'),
  HG_ERR_CONTENT_TYPE: e(415, 'Unsupported media type'),
  HG_ERR_STREAMS_LIMIT: e(429, 'Too many log streams', true),
  HG_ERR_ROUTE_NOT_FOUND: e(404, 'Not found'),
  HG_ERR_TASK_NOT_FOUND: e(404, 'Task not found'),
  HG_ERR_RUN_NOT_FOUND: e(404, 'Run not found'),
  HG_ERR_WORKER_NOT_FOUND: e(404, 'Worker not found'),
  HG_ERR_POOL_NOT_FOUND: e(404, 'Pool not found'),
  HG_ERR_STORE_NOT_FOUND: e(404, 'Not found'),
  HG_ERR_TASK_EXISTS: e(409, 'Task exists'),
  HG_ERR_TASK_READ_ONLY: e(409, 'Task managed by Kubernetes'),
  HG_ERR_POOL_READ_ONLY: e(409, 'Pool managed by Kubernetes'),
  HG_ERR_RUN_NOT_ACTIVE: e(409, 'Run already finished'),
  HG_ERR_RUN_NOT_RETRYABLE: e(409, 'Run cannot be retried'),
  HG_ERR_WORKER_DOWN: e(409, 'Worker is down'),
  HG_ERR_RELOAD_UNAVAILABLE: e(409, 'Nothing to reload'),
  HG_ERR_TRIGGER_BUSY: e(409, 'Trigger busy', true),
  HG_ERR_STORE_CONFLICT: e(409, 'Conflict'),
  HG_ERR_DATA_DIR_LOCKED: e(409, 'Data directory in use'),
  HG_ERR_STORE_LEASE_LOST: e(503, 'Leader lease lost', true),
  HG_ERR_STORE_UNAVAILABLE: e(503, 'Database unavailable', true),
  HG_ERR_INTERNAL: e(500, 'Internal error', true),
} as const satisfies Record<string, ErrorInfo>;

/** Every code of the table, plus the HG_ERR_HTTP_<status> family for protocol-level refusals. */
export type ErrorCode = keyof typeof ERROR_CODES | `HG_ERR_HTTP_${number}`;

/** Statuses that the same request may pass later (the HG_ERR_HTTP_<status> family is judged by its status). */
const RETRYABLE_STATUSES = new Set([408, 429, 502, 503, 504]);

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code) || /^HG_ERR_HTTP_[1-5]\d\d$/.test(code);
}

/** The table's entry; for HG_ERR_HTTP_<status>, derived from the status. Undefined for an unknown code. */
export function errorInfo(code: string): ErrorInfo | undefined {
  if (Object.hasOwn(ERROR_CODES, code)) return ERROR_CODES[code as keyof typeof ERROR_CODES];
  const http = /^HG_ERR_HTTP_([1-5]\d\d)$/.exec(code);
  if (!http) return undefined;
  const status = Number(http[1]);
  return { status, title: `HTTP ${status}`, retryable: RETRYABLE_STATUSES.has(status) };
}
