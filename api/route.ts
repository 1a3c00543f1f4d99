import type { FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { RouteAccess } from './permissions.ts';
import type { Principal } from './auth.ts';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** A named schema in the OpenAPI components (api/schemas.ts), a list of them, or an inline zod schema. */
export type ResponseBody = { ref: string; list?: boolean } | { zod: z.ZodType } | { stream: 'text/event-stream' | 'text/plain' };

export interface ResponseDoc {
  description: string;
  body?: ResponseBody;
}

export interface RouteInput<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  principal: Principal;
  request: FastifyRequest;
  reply: FastifyReply;
}

/**
 * One row of the route table: how fastify serves it, what it needs (access), and what the OpenAPI
 * document says about it. The auth hook, the OpenAPI generator and the authorisation-matrix test all read
 * these rows, so a route cannot be served with one permission and documented with another.
 */
export interface ApiRoute {
  method: HttpMethod;
  /** fastify syntax: /api/tasks/:id */
  url: string;
  access: RouteAccess;
  tag: string;
  summary: string;
  description?: string;
  params?: z.ZodType;
  query?: z.ZodType;
  /** validated before the handler runs */
  body?: z.ZodType;
  /** documented only: the core validates this body itself (task specs, so schedule problems come in the same answer) */
  bodyDoc?: z.ZodType;
  /** status -> what is answered; error statuses (4xx) are added by the generator */
  responses: Record<number, ResponseDoc>;
  handler(input: RouteInput<unknown, unknown, unknown>): Promise<unknown>;
}

type Out<S> = S extends z.ZodType ? z.output<S> : undefined;

export interface RouteSpec<P extends z.ZodType | undefined, Q extends z.ZodType | undefined, B extends z.ZodType | undefined>
  extends Omit<ApiRoute, 'params' | 'query' | 'body' | 'handler'> {
  params?: P;
  query?: Q;
  body?: B;
  handler(input: RouteInput<Out<P>, Out<Q>, B extends z.ZodType ? z.output<B> : unknown>): Promise<unknown>;
}

/** Types the handler's parsed input from the row's own schemas. */
export function defineRoute<P extends z.ZodType | undefined = undefined, Q extends z.ZodType | undefined = undefined, B extends z.ZodType | undefined = undefined>(
  spec: RouteSpec<P, Q, B>,
): ApiRoute {
  return spec as unknown as ApiRoute;
}
