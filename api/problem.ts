import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { errorInfo, ValidationError, type ErrorCode, type FieldProblem } from '../core/model/index.ts';
import { ConflictError, isTransientFailure, NotFoundError } from '../core/store/index.ts';
import { AuthError } from './auth.ts';

/** RFC 9457 problem details, with a stable code and, for validation, the path of each bad field. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  /** whether the same request may succeed later (core/model/error-codes.ts) */
  retryable: boolean;
  errors?: FieldProblem[];
}

export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string().describe('stable error code, see docs/errors.md'),
    retryable: z.boolean().describe('whether the same request may succeed later (after Retry-After, or once the condition clears)'),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional().describe('each bad field, for validation errors'),
  })
  .describe('application/problem+json (RFC 9457)');

/** A refusal the API decides itself, with its stable code (HG_ERR_<AREA>_<WHAT>). */
export class ApiProblem extends Error {
  readonly status: number;
  readonly code: ErrorCode;
  /** response headers that go with the refusal (Retry-After) */
  readonly headers: Record<string, string>;
  constructor(status: number, code: ErrorCode, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'ApiProblem';
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

const TITLES: Record<number, string> = {
  400: 'Bad request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not found', 405: 'Method not allowed', 406: 'Not acceptable',
  408: 'Request timeout', 409: 'Conflict', 413: 'Payload too large', 414: 'URI too long', 415: 'Unsupported media type',
  429: 'Too many requests', 431: 'Request header fields too large', 500: 'Internal error', 503: 'Service unavailable',
};

/** The table (core/model/error-codes.ts) decides status, title and retryable; the thrower's status is the fallback for a code not in it. */
const problem = (fallbackStatus: number, code: string, detail: string, errors?: FieldProblem[]): Problem => {
  const info = errorInfo(code);
  const status = info?.status ?? fallbackStatus;
  return {
    type: 'about:blank',
    title: info?.title ?? TITLES[status] ?? 'Error',
    status,
    detail,
    code,
    retryable: info?.retryable ?? false,
    ...(errors ? { errors } : {}),
  };
};

export function problemFor(error: unknown): Problem {
  if (error instanceof ValidationError) return problem(400, error.code, error.message, error.problems);
  if (error instanceof AuthError || error instanceof ApiProblem) return problem(error.status, error.code, error.message);
  if (error instanceof NotFoundError) return problem(404, error.code, error.message);
  if (error instanceof ConflictError) return problem(409, error.code, error.message);
  const fastifyError = error as FastifyError;
  if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    // fastify's own refusals (bad JSON, body too large, bad content type) and the rate limiter's 429
    const status = fastifyError.statusCode;
    const body = fastifyError.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || fastifyError.code === 'FST_ERR_CTP_EMPTY_JSON_BODY';
    return problem(status, `HG_ERR_HTTP_${status}`, fastifyError.message, body ? [{ path: '(body)', message: fastifyError.message }] : undefined);
  }
  // a database outage or a rolled-back transaction is the moment's fault, not a bug: the client may retry
  if (isTransientFailure(error)) return problem(503, 'HG_ERR_STORE_UNAVAILABLE', 'the database could not complete the request just now; retry shortly');
  // never leak internals (SQL, stack traces) to a client
  return problem(500, 'HG_ERR_INTERNAL', 'the server could not complete the request; see its log');
}

export function sendProblem(request: FastifyRequest, reply: FastifyReply, error: unknown): FastifyReply {
  const answer = problemFor(error);
  if (answer.code === 'HG_ERR_STORE_UNAVAILABLE') {
    // one line per request, not a stack: an outage would otherwise flood the log with identical traces
    request.log.warn({ err: (error as Error).message, code: (error as { code?: unknown }).code }, 'request failed: database unavailable');
    reply.header('retry-after', '1');
  } else if (answer.status >= 500) request.log.error({ err: error }, 'request failed');
  if (answer.status === 401) reply.header('www-authenticate', 'Bearer realm="hourglass"');
  if (error instanceof ApiProblem) for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
  return reply.code(answer.status).type('application/problem+json').send(answer);
}
