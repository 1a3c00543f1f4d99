import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../core/config/index.ts';
import type { CoreContext } from '../core/dispatch/context.ts';
import { liveWorkerLoad, poolActivity } from '../core/store/index.ts';
import { createMetrics, type Metrics } from '../core/telemetry/metrics.ts';
import { AuthFailures } from './auth-failures.ts';
import { installAuth, KeyStore } from './auth.ts';
import { effectiveApiKeys } from './key-file.ts';
import type { ApiContext, ReloadResult } from './context.ts';
import { installHttpPolicies, tlsOptions } from './http-options.ts';
import { assertSafeExposure, installLocalGuard } from './local-guard.ts';
import { TokenService } from './jwt.ts';
import { CLUSTER_METRICS_TTL_MS, cachedFor } from './metrics-cache.ts';
import { openApiDocument } from './openapi.ts';
import { rateLimitRedis } from './rate-limit-store.ts';
import { applyReload } from './reload.ts';
import { installConsole } from './routes/console.ts';
import { ApiProblem, sendProblem } from './problem.ts';
import type { ApiRoute } from './route.ts';
import { DOCS_UI_PREFIX, DOCS_URL, routeTable } from './route-table.ts';
import { assertSafeBody, assertSafeParameters, parseRequest } from './validation.ts';
import { StreamSlots } from './stream-slots.ts';
import { BARE_SETTINGS, settingsFrom, type LiveSettings } from './settings.ts';

export interface ApiOptions {
  ctx: CoreContext;
  logger: Logger;
  version: string;
  /** the process's metrics; a private set when absent */
  metrics?: Metrics;
  /** [api] config; absent in tests that want a bare API (no auth, no CORS, no limits) */
  api?: Config['api'];
  /** the whole config, for /api/system/info and reloads */
  config?: Config;
  /** re-reads the config chain (same files and environment) for POST /api/system/reload-config */
  loadConfig?: () => Config;
  /** shares the rate limit between API replicas; by default the Redis the config names, if any (rateLimitRedis) */
  redis?: Redis;
  mode?: string;
  isLeader?: () => boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** the rows this API serves (tests build the authorisation matrix from them) */
    routeTable: readonly ApiRoute[];
    /** every method and path fastify serves, whoever registered it (tests check the OpenAPI covers them) */
    servedRoutes: ReadonlyArray<{ method: string; url: string }>;
  }
}

const MB = 1024 * 1024;
const DEFAULT_WORKER_TIMEOUT_SECONDS = 90;

/** The REST API: every route of the route table; errors are application/problem+json. */
export async function buildApi(options: ApiOptions): Promise<FastifyInstance> {
  const api = options.api ?? options.config?.api;
  if (api) assertSafeExposure(api);
  const https = api ? tlsOptions(api.tls) : undefined;
  const app = Fastify({
    ...(https ? { https } : {}),
    loggerInstance: options.logger.child({ component: 'api' }) as FastifyBaseLogger,
    // one line per request would drown the log at trigger rates; failures are logged by the error handler
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: (api?.security.max_request_size_mb ?? 10) * MB,
    // a client must send its whole request within this; slow-loris connections are cut
    requestTimeout: (api?.request_timeout_seconds ?? 30) * 1000,
    // X-Forwarded-For is believed only from the configured proxies; otherwise the socket address is the client
    trustProxy: api && api.trusted_proxies.length > 0 ? api.trusted_proxies : false,
    // the router's own refusals (a malformed percent-encoding) are problems like every other error
    frameworkErrors: (error, request, reply) => void sendProblem(request, reply, error),
  });
  const metrics = options.metrics ?? createMetrics();
  let settings: LiveSettings = api ? settingsFrom(api) : BARE_SETTINGS;
  let config = options.config;
  const keys = new KeyStore(api ? effectiveApiKeys(api.auth, options.config?.environment) : {});
  const failures = new AuthFailures(() => options.ctx.clock.now());
  const tokens = new TokenService(() => settings.tokens);
  const context: ApiContext = {
    core: options.ctx,
    version: options.version,
    mode: options.mode ?? 'api',
    startedAt: Date.now(),
    config: () => config,
    settings: () => settings,
    keys,
    tokens,
    failures,
    streams: new StreamSlots(),
    metrics: metrics.registry,
    metricsRequireAuth: api?.metrics_require_auth ?? false,
    workerTimeoutSeconds: config?.dispatcher.worker_timeout_seconds ?? DEFAULT_WORKER_TIMEOUT_SECONDS,
    ...(options.isLeader ? { isLeader: options.isLeader } : {}),
    ...(options.loadConfig ? { reload: async () => reload(options.loadConfig as () => Config) } : {}),
  };
  const reload = async (load: () => Config): Promise<ReloadResult> => {
    const loaded = load();
    // read before anything changes: a broken key file fails the reload and keeps the keys in effect
    const nextKeys = effectiveApiKeys(loaded.api.auth, loaded.environment);
    const { effective, ...result } = applyReload(config, loaded);
    // a reload that turns auth off must not expose an unauthenticated API on the network either
    assertSafeExposure(effective.api);
    config = effective;
    settings = settingsFrom(effective.api);
    keys.replace(nextKeys);
    options.logger.level = effective.observability.log_level;
    app.log.level = effective.observability.log_level;
    options.logger.info(result, 'configuration reloaded');
    return result;
  };

  app.setErrorHandler((error, request, reply) => sendProblem(request, reply, error));
  // JSON bodies have their own, smaller limit ([api.security] max_json_payload_size_mb); merge patches are JSON
  const jsonLimit = (api?.security.max_json_payload_size_mb ?? 5) * MB;
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(['application/json', 'application/merge-patch+json'], { parseAs: 'string', bodyLimit: jsonLimit }, app.getDefaultJsonParser('error', 'error'));
  app.setNotFoundHandler((request, reply) => sendProblem(request, reply, new ApiProblem(404, 'HG_ERR_ROUTE_NOT_FOUND', `no route ${request.method} ${request.url.slice(0, 200)}`)));
  const served: Array<{ method: string; url: string }> = [];
  app.decorate('servedRoutes', served);
  app.addHook('onRoute', (route) => {
    // the docs UI's own routes (registered by @fastify/swagger-ui) are public like the document
    if (route.url.startsWith(DOCS_UI_PREFIX)) route.config = { ...route.config, access: 'public' };
    for (const method of [route.method].flat()) served.push({ method, url: route.url });
  });
  app.addHook('onResponse', async (request, reply) => {
    metrics.httpDuration.observe(
      { route: request.routeOptions.url ?? 'unmatched', method: request.method, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });
  metrics.observeCluster(cachedFor(CLUSTER_METRICS_TTL_MS, () => options.ctx.clock.now(), async () => {
    const [activity, workers] = await Promise.all([poolActivity(options.ctx.db, context.workerTimeoutSeconds), liveWorkerLoad(options.ctx.db, context.workerTimeoutSeconds)]);
    return { backlog: new Map([...activity.values()].map((p) => [p.pool, p.backlog])), workers };
  }));

  const redis = options.redis ?? (options.config ? rateLimitRedis(options.config) : undefined);
  if (redis && !options.redis) {
    redis.on('error', (error: Error) => app.log.warn({ err: error.message }, 'rate-limit Redis unavailable; requests are not limited meanwhile'));
    app.addHook('onClose', async () => void (await redis.quit().catch(() => redis.disconnect())));
  }
  // headers first: refusals by the auth hook carry security and CORS headers too (a browser can read a 401)
  await installHttpPolicies(app, () => settings, redis);
  // with auth off: loopback Host names only, no cross-site writes, JSON bodies only
  installLocalGuard(app, () => settings.authEnabled);
  installAuth(app, { enabled: () => settings.authEnabled, keys, tokens, failures });

  const routes = routeTable(context);
  app.decorate('routeTable', routes);
  for (const route of routes) register(app, route);
  const document = openApiDocument(routes, { version: options.version });
  app.get(DOCS_URL, { config: { access: 'public' } }, async () => document);
  await app.register(swagger, { mode: 'static', specification: { document: document as never } });
  await app.register(swaggerUi, { routePrefix: DOCS_UI_PREFIX, staticCSP: true });
  installConsole(app);
  return app;
}

function register(app: FastifyInstance, route: ApiRoute): void {
  app.route({
    method: route.method,
    url: route.url,
    config: { access: route.access },
    handler: async (request, reply) => {
      assertSafeParameters(request.params, 'path');
      assertSafeParameters(request.query, 'query');
      assertSafeBody(request.body);
      const params = route.params ? parseRequest(route.params, request.params, 'path') : request.params;
      const query = route.query ? parseRequest(route.query, request.query ?? {}, 'query') : request.query;
      const body = route.body ? parseRequest(route.body, request.body ?? {}, 'body') : request.body;
      if (!request.principal && route.access !== 'public') throw new ApiProblem(500, 'HG_ERR_INTERNAL', 'no principal on an authenticated route');
      const principal = request.principal ?? { kind: 'anonymous' as const, id: 'anonymous', permissions: [] };
      return route.handler({ params, query, body, principal, request, reply });
    },
  });
}
