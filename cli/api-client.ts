/** A small client for the REST API, used by scheduler-cli. Problems come back as readable errors. */
export interface ApiClientOptions {
  baseUrl: string;
  apiKey?: string;
}

export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

export function apiClient(options: ApiClientOptions) {
  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await fetch(new URL(path, options.baseUrl), {
        method,
        headers: {
          accept: 'application/json',
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...(options.apiKey ? { 'x-api-key': options.apiKey } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (error) {
      throw new ApiError(0, `cannot reach the API at ${options.baseUrl}: ${(error as Error & { cause?: Error }).cause?.message ?? (error as Error).message}`);
    }
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    const payload = text ? (JSON.parse(text) as unknown) : undefined;
    if (!response.ok) {
      const problem = payload as { detail?: string; errors?: Array<{ path: string; message: string }> } | undefined;
      const fields = problem?.errors?.map((e) => `\n  ${e.path || '(body)'}: ${e.message}`).join('') ?? '';
      throw new ApiError(response.status, `${problem?.detail ?? `HTTP ${response.status}`}${fields}`);
    }
    return payload as T;
  }
  return {
    get: <T>(path: string) => call<T>('GET', path),
    post: <T>(path: string, body?: unknown) => call<T>('POST', path, body),
    put: <T>(path: string, body: unknown) => call<T>('PUT', path, body),
    delete: (path: string) => call<void>('DELETE', path),
  };
}
