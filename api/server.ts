import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { CoreContext } from '../core/dispatch/context.ts';
import { sendProblem } from './problem.ts';
import { runRoutes } from './routes/runs.ts';
import { taskRoutes } from './routes/tasks.ts';

export interface ApiOptions {
  ctx: CoreContext;
  logger: Logger;
  version: string;
  metrics: Registry;
  bodyLimitBytes?: number;
}

/** The REST API: /health, /metrics and the /api routes; errors are application/problem+json. */
export async function buildApi(options: ApiOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: options.logger.child({ component: 'api' }) as FastifyBaseLogger,
    // one line per request would drown the log at trigger rates; failures are logged by the error handler
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimitBytes ?? 5 * 1024 * 1024,
    requestTimeout: 30_000,
  });
  app.setErrorHandler((error, request, reply) => sendProblem(request, reply, error));
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
