import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

export interface HealthState {
  /** the process is up and its loops are alive */
  healthy(): boolean;
  /** ready to lead: the caches synced (leader) or standing by on the Lease (standby) */
  ready(): { ready: boolean; detail: Record<string, unknown> };
}

/** /health, /ready and /metrics on their own port, so probes and scrapes never wait on the work. */
export async function startHealthServer(host: string, port: number, state: HealthState, registry: Registry): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    const reply = (status: number, body: unknown, type = 'application/json') => {
      response.writeHead(status, { 'content-type': type });
      response.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    if (request.method !== 'GET' && request.method !== 'HEAD') return reply(405, { error: 'method not allowed' });
    if (path === '/health') return state.healthy() ? reply(200, { status: 'ok' }) : reply(503, { status: 'unhealthy' });
    if (path === '/ready') {
      const { ready, detail } = state.ready();
      return reply(ready ? 200 : 503, { status: ready ? 'ready' : 'not ready', ...detail });
    }
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => reply(200, text, registry.contentType),
        (error: Error) => reply(500, { error: error.message }),
      );
      return;
    }
    reply(404, { error: 'not found' });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  const actual = typeof address === 'object' && address ? address.port : port;
  return {
    server,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${actual}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
