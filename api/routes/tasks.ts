import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { parseOrThrow, RunStatus } from '../../core/model/index.ts';
import type { CoreContext } from '../../core/dispatch/context.ts';
import { createTaskFromInput, deleteTaskByRef, replaceTaskFromInput, triggerTask } from '../../core/dispatch/tasks.ts';
import { listTaskRuns } from '../../core/store/runs.ts';
import { getTask, listTasks } from '../../core/store/tasks.ts';
import { taskView } from '../views.ts';

const Page = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(200).optional(),
});
const RunPage = Page.extend({
  cursor: z.string().regex(/^\d{1,18}$/, 'must be the nextCursor of a previous page').optional(),
  status: RunStatus.optional(),
});
type IdParams = { Params: { id: string } };

export function taskRoutes(app: FastifyInstance, ctx: CoreContext): void {
  const view = async (task: Awaited<ReturnType<typeof getTask>>) => {
    const [lastRun] = await listTaskRuns(ctx.db, task.id, { limit: 1 });
    return taskView(task, lastRun ?? null, ctx.now());
  };

  app.get('/api/tasks', async (request) => {
    const page = parseOrThrow(Page, request.query, 'query');
    const tasks = await listTasks(ctx.db, { limit: page.limit + 1, ...(page.cursor ? { after: page.cursor } : {}) });
    const items = tasks.slice(0, page.limit);
    return {
      items: items.map((task) => taskView(task, null, ctx.now())),
      nextCursor: tasks.length > page.limit ? (items.at(-1)?.name ?? null) : null,
    };
  });

  app.post('/api/tasks', async (request, reply) => {
    const task = await createTaskFromInput(ctx, request.body);
    return reply.code(201).header('location', `/api/tasks/${task.id}`).send(await view(task));
  });

  app.get<IdParams>('/api/tasks/:id', async (request) => view(await getTask(ctx.db, request.params.id)));

  app.put<IdParams>('/api/tasks/:id', async (request) => view(await replaceTaskFromInput(ctx, request.params.id, request.body)));

  app.delete<IdParams>('/api/tasks/:id', async (request, reply) => {
    await deleteTaskByRef(ctx, request.params.id);
    return reply.code(204).send();
  });

  app.post<IdParams>('/api/tasks/:id/trigger', async (request, reply) => {
    const run = await triggerTask(ctx, request.params.id);
    return reply.code(201).header('location', `/api/task-runs/${run.id}`).send(run);
  });

  app.get<IdParams>('/api/tasks/:id/runs', async (request) => {
    const page = parseOrThrow(RunPage, request.query, 'query');
    const task = await getTask(ctx.db, request.params.id);
    const runs = await listTaskRuns(ctx.db, task.id, {
      limit: page.limit + 1,
      ...(page.cursor ? { beforeId: page.cursor } : {}),
      ...(page.status ? { status: page.status } : {}),
    });
    const items = runs.slice(0, page.limit);
    return { items, nextCursor: runs.length > page.limit ? (items.at(-1)?.id ?? null) : null };
  });
}
