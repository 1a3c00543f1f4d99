import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ValidationError, type FieldProblem } from '../core/model/index.ts';
import { ConflictError, NotFoundError } from '../core/store/errors.ts';

/** RFC 9457 problem details, with a stable code and, for validation, the path of each bad field. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  errors?: FieldProblem[];
}

export function problemFor(error: unknown): Problem {
  if (error instanceof ValidationError) {
    return { type: 'about:blank', title: 'Invalid request', status: 400, detail: error.message, code: error.code, errors: error.problems };
  }
  if (error instanceof NotFoundError) return { type: 'about:blank', title: 'Not found', status: 404, detail: error.message, code: error.code };
  if (error instanceof ConflictError) return { type: 'about:blank', title: 'Conflict', status: 409, detail: error.message, code: error.code };
  const fastifyError = error as FastifyError;
  if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode < 500) {
    return {
      type: 'about:blank',
      title: fastifyError.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? 'Payload too large' : 'Bad request',
      status: fastifyError.statusCode,
      detail: fastifyError.message,
      code: `HG_ERR_HTTP_${fastifyError.statusCode}`,
    };
  }
  // never leak internals (SQL, stack traces) to a client
  return { type: 'about:blank', title: 'Internal error', status: 500, detail: 'the server could not complete the request; see its log', code: 'HG_ERR_INTERNAL' };
}

export function sendProblem(request: FastifyRequest, reply: FastifyReply, error: unknown): FastifyReply {
  const problem = problemFor(error);
  if (problem.status >= 500) request.log.error({ err: error }, 'request failed');
  return reply.code(problem.status).type('application/problem+json').send(problem);
}
