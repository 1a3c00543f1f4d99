import type { components, paths } from './schema.d.ts';
import { accessToken, refreshIfNeeded, signedOut } from './auth.ts';

export type Schemas = components['schemas'];
export type Task = Schemas['Task'];
export type Run = Schemas['Run'];
export type Worker = Schemas['Worker'];
export type Pool = Schemas['Pool'];
export type RunStatus = Run['status'];

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';
type PathsWith<M extends Method> = { [P in keyof paths]: paths[P][M] extends { responses: unknown } ? P : never }[keyof paths];
type Operation<P extends keyof paths, M extends Method> = paths[P][M];
type Content<R> = R extends { content: { 'application/json': infer J } } ? J : undefined;
type Success<O> = O extends { responses: infer R }
  ? Content<R extends { 200: infer A } ? A : R extends { 201: infer B } ? B : R extends { 202: infer C } ? C : never>
  : never;
type QueryOf<O> = O extends { parameters: { query?: infer Q } } ? Q : never;
type PathParamsOf<O> = O extends { parameters: { path: infer P } } ? P : never;
type BodyOf<O> = O extends { requestBody?: { content: { 'application/json': infer B } } } ? B : never;

export interface RequestOptions<O> {
  params?: PathParamsOf<O>;
  query?: QueryOf<O>;
  body?: BodyOf<O> | Record<string, unknown>;
}

/** An answer of the API that was not 2xx: its problem+json (RFC 9457) when it sent one. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly fieldErrors: Array<{ path: string; message: string }>;
  /** the whole answer (a 503 of a health check carries the same body as its 200) */
  readonly body: unknown;
  constructor(status: number, problem: { detail?: string; title?: string; code?: string; errors?: Array<{ path: string; message: string }> }) {
    super(problem.detail ?? problem.title ?? `HTTP ${status}`);
    this.body = problem;
    this.status = status;
    this.code = problem.code ?? '';
    this.fieldErrors = problem.errors ?? [];
  }
}

function url(path: string, params?: object, query?: object): string {
  let filled = path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(String((params as Record<string, unknown> | undefined)?.[name] ?? '')));
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value === undefined || value === null || value === '') continue;
    for (const item of Array.isArray(value) ? value : [value]) search.append(key, String(item));
  }
  const qs = search.toString();
  if (qs) filled += `?${qs}`;
  return filled;
}

/**
 * Every call is same-origin and, when it writes, sends JSON: that is what the API's same-origin write
 * checks (Origin / Sec-Fetch-Site and the JSON content type) accept when auth is off.
 */
export async function call(method: Method, path: string, options: { params?: object; query?: object; body?: unknown } = {}): Promise<unknown> {
  await refreshIfNeeded();
  const headers: Record<string, string> = { accept: 'application/json, application/problem+json' };
  const token = accessToken();
  if (token) headers.authorization = `Bearer ${token}`;
  const writes = method !== 'get';
  if (writes) headers['content-type'] = 'application/json';
  const response = await fetch(url(path, options.params, options.query), {
    method: method.toUpperCase(),
    headers,
    credentials: 'same-origin',
    mode: 'same-origin',
    ...(writes ? { body: JSON.stringify(options.body ?? {}) } : {}),
  });
  if (response.status === 401) signedOut();
  if (response.status === 204) return undefined;
  const text = await response.text();
  const json: unknown = text ? JSON.parse(text) : undefined;
  if (!response.ok) throw new ApiError(response.status, (json ?? {}) as ConstructorParameters<typeof ApiError>[1]);
  return json;
}

/** Typed from the OpenAPI document (schema.d.ts): path, parameters and answer. */
export const api = {
  get: <P extends PathsWith<'get'>>(path: P, options: RequestOptions<Operation<P, 'get'>> = {}) => call('get', path, options) as Promise<Success<Operation<P, 'get'>>>,
  post: <P extends PathsWith<'post'>>(path: P, options: RequestOptions<Operation<P, 'post'>> = {}) => call('post', path, options) as Promise<Success<Operation<P, 'post'>>>,
  patch: <P extends PathsWith<'patch'>>(path: P, options: RequestOptions<Operation<P, 'patch'>> = {}) => call('patch', path, options) as Promise<Success<Operation<P, 'patch'>>>,
  put: <P extends PathsWith<'put'>>(path: P, options: RequestOptions<Operation<P, 'put'>> = {}) => call('put', path, options) as Promise<Success<Operation<P, 'put'>>>,
  delete: <P extends PathsWith<'delete'>>(path: P, options: RequestOptions<Operation<P, 'delete'>> = {}) => call('delete', path, options) as Promise<void>,
};

/** Headers for a streamed request (the log follower), with the current credential. */
export async function authHeaders(): Promise<Record<string, string>> {
  await refreshIfNeeded();
  const token = accessToken();
  return token ? { authorization: `Bearer ${token}` } : {};
}
