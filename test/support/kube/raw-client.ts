/**
 * Plain HTTP against the in-memory server, for tests that assert exact status codes, Status objects
 * and headers (client libraries hide those).
 */
export interface RawResponse<T = Record<string, unknown>> { status: number; body: T; headers: Headers }

export interface RawRequest {
  body?: unknown;
  contentType?: string;
  accept?: string;
}

export async function kubeRequest<T = Record<string, unknown>>(baseUrl: string, method: string, path: string, request: RawRequest = {}): Promise<RawResponse<T>> {
  const headers: Record<string, string> = { accept: request.accept ?? 'application/json' };
  let payload: string | undefined;
  if (request.body !== undefined) {
    headers['content-type'] = request.contentType ?? 'application/json';
    payload = typeof request.body === 'string' ? request.body : JSON.stringify(request.body);
  }
  const response = await fetch(`${baseUrl}${path}`, { method, headers, ...(payload === undefined ? {} : { body: payload }) });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : {}) as T, headers: response.headers };
}

/** Reads a watch stream until `until` says stop (or `timeoutMs` passes); returns the events seen. */
export async function collectWatch(baseUrl: string, path: string, until: (events: WatchLine[]) => boolean, timeoutMs = 5000): Promise<WatchLine[]> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const events: WatchLine[] = [];
  try {
    const response = await fetch(`${baseUrl}${path}`, { signal: controller.signal });
    let buffer = '';
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      buffer += Buffer.from(chunk).toString('utf8');
      let newline = buffer.indexOf('\n');
      while (newline >= 0) {
        events.push(JSON.parse(buffer.slice(0, newline)) as WatchLine);
        buffer = buffer.slice(newline + 1);
        newline = buffer.indexOf('\n');
      }
      if (until(events)) break;
    }
  } catch (error) {
    if ((error as Error).name !== 'AbortError') throw error;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return events;
}

export interface WatchLine {
  type: string;
  object: { kind?: string; code?: number; reason?: string; metadata: { name?: string; resourceVersion?: string; annotations?: Record<string, string> }; [key: string]: unknown };
}

/**
 * Creates many objects quickly (node:http keep-alive, `concurrency` requests in flight; fetch costs
 * several times more per request). Rejects on the first answer that is not 201.
 */
export async function createMany(baseUrl: string, path: string, bodies: unknown[], concurrency = 32): Promise<void> {
  const { Agent, request } = await import('node:http');
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const url = new URL(baseUrl);
  const post = (body: unknown) => new Promise<void>((resolve, reject) => {
    const payload = JSON.stringify(body);
    const outgoing = request({ host: url.hostname, port: url.port, path, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => (response.statusCode === 201 ? resolve() : reject(new Error(`POST ${path}: ${response.statusCode} ${Buffer.concat(chunks).toString('utf8')}`))));
    });
    outgoing.on('error', reject);
    outgoing.end(payload);
  });
  let next = 0;
  try {
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < bodies.length) await post(bodies[next++]);
    }));
  } finally {
    agent.destroy();
  }
}
