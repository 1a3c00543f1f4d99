import type { FastifyInstance } from 'fastify';
import type { CoreContext } from '../../core/dispatch/context.ts';
import { getRun } from '../../core/store/runs.ts';

export function runRoutes(app: FastifyInstance, ctx: CoreContext): void {
  app.get<{ Params: { id: string } }>('/api/task-runs/:id', async (request) => getRun(ctx.db, request.params.id));
}
