import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from '../core/config/index.ts';
import type { CoreContext } from '../core/dispatch/context.ts';
import { installApiKeyAuth } from './auth.ts';
import { installHttpPolicies, tlsOptions } from './http-options.ts';
import { sendProblem } from './problem.ts';
import { runRoutes } from './routes/runs.ts';
import { taskRoutes } from './routes/tasks.ts';

export interface ApiOptions {
  ctx: CoreContext;
  logger: Logger;
  version: string;
  metrics: Registry;
  /** [api] config; absent in tests that want a bare API (no auth, no CORS, no limits) */
  api?: Config['api'];
}

const MB = 1024 * 1024;

/** The REST API: /health, /metrics and the /api routes; errors are application/problem+json. */
export async function buildApi(options: ApiOptions): Promise<FastifyInstance> {
  const api = options.api;
  const https = api ? tlsOptions(api.tls) : undefined;
  const app = Fastify({
    ...(https ? { https } : {}),
    loggerInstance: options.logger.child({ component: 'api' }) as FastifyBaseLogger,
    // one line per request would drown the log at trigger rates; failures are logged by the error handler
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: (api?.security.max_request_size_mb ?? 10) * MB,
    requestTimeout: 30_000,
  });
  app.setErrorHandler((error, request, reply) => sendProblem(request, reply, error));
  // JSON bodies have their own, smaller limit ([api.security] max_json_payload_size_mb)
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: (api?.security.max_json_payload_size_mb ?? 5) * MB }, app.getDefaultJsonParser('error', 'error'));
  if (api) {
    await installHttpPolicies(app, api);
    if (api.auth.enabled) installApiKeyAuth(app, api.auth.api_keys);
  }
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).type('application/problem+json').send({
      type: 'about:blank', title: 'Not found', status: 404, detail: `no route ${request.method} ${request.url}`, code: 'HG_ERR_ROUTE_NOT_FOUND',
    }),
  );
  const startedAt = Date.now();
  app.get('/health', async () => ({ status: 'ok', version: options.version, uptimeSeconds: Math.round((Date.now() - startedAt) / 1000) }));
  app.get('/metrics', async (_request, reply) => reply.type(options.metrics.contentType).send(await options.metrics.metrics()));
  taskRoutes(app, options.ctx);
  runRoutes(app, options.ctx);
  return app;
}
