/** A small client for the REST API, used by scheduler-cli. Problems come back as readable errors. */
export interface ApiClientOptions {
  baseUrl: string;
  apiKey?: string;
  /** per request, in ms; 0 = none. Default 60 s. */
  timeoutMs?: number;
}

export interface FieldProblem {
  path: string;
  message: string;
}

/** An answer other than 2xx, or no answer at all (status 0: the API could not be reached). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string | undefined;
  readonly problems: FieldProblem[];
  constructor(status: number, message: string, code?: string, problems: FieldProblem[] = []) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.problems = problems;
  }
}

export interface ApiResult<T> {
  status: number;
  body: T;
}

export interface CallOptions {
  timeoutMs?: number;
  /** statuses besides 2xx whose body is the answer (503 of a health check says why) */
  acceptStatus?: number[];
}

/** One server-sent event: its `event:` name (default "message") and its data, parsed as JSON when it is JSON. */
export interface ServerEvent {
  event: string;
  data: unknown;
}

const DEFAULT_TIMEOUT_MS = 60_000;

export function apiClient(options: ApiClientOptions) {
  const headers = (body: boolean, accept = 'application/json'): Record<string, string> => ({
    accept,
    ...(body ? { 'content-type': 'application/json' } : {}),
    ...(options.apiKey ? { 'x-api-key': options.apiKey } : {}),
  });

  async function send(method: string, path: string, init: { body?: unknown; accept?: string; timeoutMs?: number; acceptStatus?: number[] }): Promise<Response> {
    const timeoutMs = init.timeoutMs ?? options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    let response: Response;
    try {
      response = await fetch(new URL(path, options.baseUrl), {
        method,
        headers: headers(init.body !== undefined, init.accept),
        ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
        ...(timeoutMs > 0 ? { signal: AbortSignal.timeout(timeoutMs) } : {}),
      });
    } catch (error) {
      const err = error as Error & { cause?: Error };
      const why = err.name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000} s` : (err.cause?.message ?? err.message);
      throw new ApiError(0, `cannot reach the API at ${options.baseUrl}: ${why}`);
    }
    if (!response.ok && !init.acceptStatus?.includes(response.status)) throw await problemOf(response);
    return response;
  }

  async function call<T>(method: string, path: string, body?: unknown, callOptions: CallOptions = {}): Promise<ApiResult<T>> {
    const response = await send(method, path, { body, ...callOptions });
    const text = await response.text();
    return { status: response.status, body: (text ? parseBody(text) : undefined) as T };
  }

  /** Reads a text/event-stream until the server ends it. */
  async function* events(path: string): AsyncGenerator<ServerEvent> {
    const response = await send('GET', path, { accept: 'text/event-stream', timeoutMs: 0 });
    if (!response.body) return;
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
        const event = parseEvent(block);
        if (event) yield event;
      }
    }
  }

  return {
    baseUrl: options.baseUrl,
    request: call,
    get: async <T>(path: string, callOptions?: CallOptions) => (await call<T>('GET', path, undefined, callOptions)).body,
    post: async <T>(path: string, body?: unknown, callOptions?: CallOptions) => (await call<T>('POST', path, body, callOptions)).body,
    put: async <T>(path: string, body: unknown) => (await call<T>('PUT', path, body)).body,
    patch: async <T>(path: string, body: unknown) => (await call<T>('PATCH', path, body)).body,
    delete: async (path: string) => {
      await call<void>('DELETE', path);
    },
    events,
  };
}
export type ApiClient = ReturnType<typeof apiClient>;

function parseBody(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // plain text (a log, a proxy's page): pass it on rather than failing on it
    return text;
  }
}

async function problemOf(response: Response): Promise<ApiError> {
  const text = await response.text().catch(() => '');
  let problem: { detail?: string; title?: string; code?: string; errors?: FieldProblem[] } | undefined;
  try {
    problem = text ? (JSON.parse(text) as typeof problem) : undefined;
  } catch {
    problem = { detail: text.slice(0, 200) };
  }
  const errors = Array.isArray(problem?.errors) ? problem.errors : [];
  const fields = errors.map((e) => `\n  ${e.path || '(body)'}: ${e.message}`).join('');
  const detail = problem?.detail || problem?.title || `HTTP ${response.status} ${response.statusText}`;
  return new ApiError(response.status, `${detail}${fields}`, problem?.code, errors);
}

function parseEvent(block: string): ServerEvent | undefined {
  let event = 'message';
  const data: string[] = [];
  for (const line of block.split(/\r?\n/)) {
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  if (data.length === 0) return event === 'message' ? undefined : { event, data: undefined };
  const text = data.join('\n');
  try {
    return { event, data: JSON.parse(text) as unknown };
  } catch {
    return { event, data: text };
  }
}
