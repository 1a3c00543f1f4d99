import type { ApiContext } from './context.ts';
import type { ApiRoute } from './route.ts';
import { apiIndexRoutes } from './routes/api-index.ts';
import { authRoutes } from './routes/auth.ts';
import { dataRoutes } from './routes/data.ts';
import { openRoutes } from './routes/open.ts';
import { poolRoutes } from './routes/pools.ts';
import { runRoutes } from './routes/runs.ts';
import { systemRoutes } from './routes/system.ts';
import { taskRoutes } from './routes/tasks.ts';
import { taskScheduleRoutes } from './routes/task-schedule.ts';
import { workerRoutes } from './routes/workers.ts';

/**
 * Every route the API serves, with the access it requires. The server registers exactly these, the
 * auth hook reads `access` from them, the OpenAPI document is generated from them, and the
 * authorisation-matrix test walks them: one table, so the three cannot drift apart.
 */
export function routeTable(api: ApiContext): ApiRoute[] {
  const routes = [...openRoutes(api), ...authRoutes(api), ...systemRoutes(api), ...dataRoutes(api), ...taskRoutes(api), ...taskScheduleRoutes(api), ...runRoutes(api), ...workerRoutes(api), ...poolRoutes(api)];
  return [...routes, ...apiIndexRoutes(api, routes)];
}

/** The OpenAPI document and its browsable UI; public, like the source they describe. */
export const DOCS_URL = '/api/docs';
export const DOCS_UI_PREFIX = '/api/docs/ui';
