import { z } from 'zod';
import { restoreRedactedSecrets } from '../../core/config/index.ts';
import { TaskInput, ValidationError, type Task } from '../../core/model/index.ts';
import { createTaskFromInput, deleteTaskByRef, replaceTaskFromInput, triggerTask } from '../../core/dispatch/tasks.ts';
import { ConflictError, findTask, findTaskWithLastRun, getTask, latestRunIds, listTaskRuns, listTasksFiltered, NotFoundError, runsByIds, taskStats } from '../../core/store/index.ts';
import type { ApiContext } from '../context.ts';
import { decodeCursor, isNameCursor, isRunCursor, page } from '../cursor.ts';
import { mergePatch } from '../merge-patch.ts';
import { assertBodyInScope, assertInScope } from '../key-scope.ts';
import type { Principal } from '../auth.ts';
import { defineRoute, type ApiRoute } from '../route.ts';
import { IdParams, NamespaceQuery, TaskListQuery, TaskPatch, TaskRunsQuery, TaskStatsQuery } from '../schemas.ts';
import { taskForHistory } from '../task-history.ts';
import { withWarnings } from '../task-warnings.ts';
import { taskInputOf, taskView } from '../views.ts';

const TAG = 'tasks';
const TaskRef = { params: IdParams, query: NamespaceQuery } as const;

/** Tasks mirrored from a ScheduledTask are read-only here; the message names the custom resource. */
function assertWritable(task: Task): void {
  if (task.source === 'kubernetes') {
    throw new ConflictError(
      `task "${task.name}" is managed by the ScheduledTask ${task.namespace}/${task.name} in Kubernetes; change it with kubectl`,
      'HG_ERR_TASK_READ_ONLY',
    );
  }
}

function bodyWithName(body: unknown, name: string): unknown {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return body;
  const named = body as Record<string, unknown>;
  if (named.name === undefined) return { ...named, name };
  return named;
}

export function taskRoutes(api: ApiContext): ApiRoute[] {
  const { core } = api;
  const view = async (task: Task) => {
    const [lastRun] = await listTaskRuns(core.db, task.id, { limit: 1 });
    return (await withWarnings(core.db, [task], [taskView(task, lastRun ?? null, core.now())], core.now()))[0];
  };
  const resolve = (id: string, namespace: string) => getTask(core.db, id, namespace);
  /** a key limited to some types and pools touches only tasks of those (docs/security.md) */
  const inScope = (principal: Principal, task: Task, action: string) => assertInScope(principal, { type: task.spec.type, pool: task.spec.pool, name: task.name }, action);

  return [
    defineRoute({
      method: 'GET', url: '/api/tasks', access: 'TaskRead', tag: TAG, summary: 'List tasks',
      description: 'Ordered by namespace and name; filters combine with AND. Keyset pages: pass nextCursor back as cursor.',
      query: TaskListQuery,
      responses: { 200: { description: 'a page of tasks', body: { ref: 'Task', list: true } } },
      async handler({ query }) {
        const after = decodeCursor(query.cursor, isNameCursor);
        const tasks = await listTasksFiltered(
          core.db,
          {
            ...(query.namespace !== undefined ? { namespace: query.namespace } : {}),
            ...(query.type ? { type: query.type } : {}),
            ...(query.pool ? { pool: query.pool } : {}),
            ...(query.suspended !== undefined ? { suspended: query.suspended } : {}),
            ...(query.name ? { nameContains: query.name } : {}),
            labels: query.label,
          },
          { limit: query.limit + 1, ...(after ? { after: { namespace: after.ns, name: after.name } } : {}) },
        );
        const result = page(tasks, query.limit, (t) => ({ ns: t.namespace, name: t.name }));
        const latest = await latestRunIds(core.db, result.items.map((t) => t.id));
        const runs = new Map((await runsByIds(core.db, [...latest.values()])).map((r) => [r.taskId, r]));
        const views = result.items.map((t) => taskView(t, runs.get(t.id) ?? null, core.now()));
        return { items: await withWarnings(core.db, result.items, views, core.now()), nextCursor: result.nextCursor };
      },
    }),
    defineRoute({
      method: 'POST', url: '/api/tasks', access: 'TaskWrite', tag: TAG, summary: 'Create a task',
      bodyDoc: TaskInput,
      responses: { 201: { description: 'created', body: { ref: 'Task' } } },
      async handler({ body, reply, principal }) {
        assertBodyInScope(principal, body, 'create');
        const task = await createTaskFromInput(core, body);
        reply.code(201).header('location', `/api/tasks/${task.id}`);
        return view(task);
      },
    }),
    defineRoute({
      method: 'GET', url: '/api/tasks/:id', access: 'TaskRead', tag: TAG, summary: 'Get a task by id or name', ...TaskRef,
      responses: { 200: { description: 'the task', body: { ref: 'Task' } } },
      async handler({ params, query }) {
        const found = await findTaskWithLastRun(core.db, params.id, query.namespace);
        if (!found) throw new NotFoundError(`task "${params.id}" not found`, 'HG_ERR_TASK_NOT_FOUND');
        return (await withWarnings(core.db, [found.task], [taskView(found.task, found.lastRun, core.now())], core.now()))[0];
      },
    }),
    defineRoute({
      method: 'PUT', url: '/api/tasks/:id', access: 'TaskWrite', tag: TAG, ...TaskRef,
      summary: 'Create or replace a task (what scheduler-cli apply uses)',
      description: 'Addressed by name: creates it when absent (201), replaces it otherwise (200). An id replaces the task it names.',
      bodyDoc: TaskInput,
      responses: { 200: { description: 'replaced', body: { ref: 'Task' } }, 201: { description: 'created', body: { ref: 'Task' } } },
      async handler({ params, query, body, reply, principal }) {
        const existing = await findTask(core.db, params.id, query.namespace);
        if (existing) {
          assertWritable(existing);
          inScope(principal, existing, 'replace');
          // a task read back (values shown as "***") and applied again keeps its stored secrets
          const replacement = restoreRedactedSecrets(existing.spec, bodyWithName(body, existing.name));
          assertBodyInScope(principal, replacement, 'replace');
          return view(await replaceTaskFromInput(core, existing.id, replacement));
        }
        if (query.namespace !== '') {
          throw new ValidationError('query', [{ path: 'namespace', message: 'tasks of other namespaces come from Kubernetes; the API creates tasks in the default namespace only' }]);
        }
        const named = bodyWithName(body, params.id);
        if (typeof named === 'object' && named !== null && (named as { name?: unknown }).name !== params.id) throw new ValidationError('task', [{ path: 'name', message: `must match the name in the path ("${params.id}")` }]);
        assertBodyInScope(principal, named, 'create');
        const task = await createTaskFromInput(core, named);
        reply.code(201).header('location', `/api/tasks/${task.id}`);
        return view(task);
      },
    }),
    defineRoute({
      method: 'PATCH', url: '/api/tasks/:id', access: 'TaskWrite', tag: TAG, ...TaskRef,
      summary: 'Change some fields of a task (JSON merge patch, RFC 7386)',
      description: 'Send application/merge-patch+json (or application/json): members replace, null removes (restoring the default), objects merge.',
      bodyDoc: TaskPatch,
      responses: { 200: { description: 'the changed task', body: { ref: 'Task' } } },
      async handler({ params, query, body, principal }) {
        const current = await resolve(params.id, query.namespace);
        assertWritable(current);
        inScope(principal, current, 'change');
        if (typeof body !== 'object' || body === null || Array.isArray(body)) {
          throw new ValidationError('patch', [{ path: '(body)', message: 'a merge patch is a JSON object' }]);
        }
        const patched = mergePatch(taskInputOf(current), body);
        assertBodyInScope(principal, patched, 'change');
        return view(await replaceTaskFromInput(core, current.id, patched));
      },
    }),
    defineRoute({
      method: 'DELETE', url: '/api/tasks/:id', access: 'TaskDelete', tag: TAG, summary: 'Delete a task (its run history stays readable)', ...TaskRef,
      responses: { 204: { description: 'deleted; its active runs are cancelled' } },
      async handler({ params, query, reply, principal }) {
        const task = await resolve(params.id, query.namespace);
        assertWritable(task);
        inScope(principal, task, 'delete');
        await deleteTaskByRef(core, task.id);
        return reply.code(204).send();
      },
    }),
    defineRoute({
      method: 'POST', url: '/api/tasks/:id/trigger', access: 'TaskWrite', tag: TAG, summary: 'Run a task now', ...TaskRef,
      description: 'Answers once the run (every shard) is durable; the body is shard 0.',
      responses: { 201: { description: 'the run created', body: { ref: 'Run' } } },
      async handler({ params, query, reply, principal }) {
        let ref = params.id;
        if (principal.scope) {
          const task = await resolve(params.id, query.namespace);
          inScope(principal, task, 'trigger');
          ref = task.id;
        } else if (query.namespace !== '') {
          ref = (await resolve(params.id, query.namespace)).id;
        }
        // otherwise triggerTask resolves an id or a name of the default namespace itself: one lookup, not two
        const run = await triggerTask(core, ref);
        reply.code(201).header('location', `/api/task-runs/${run.id}`);
        return run;
      },
    }),
    ...(['suspend', 'resume'] as const).map((action) =>
      defineRoute({
        method: 'POST', url: `/api/tasks/:id/${action}`, access: 'TaskWrite', tag: TAG, ...TaskRef,
        summary: action === 'suspend' ? 'Stop scheduled fires (manual triggers still run)' : 'Resume scheduled fires',
        responses: { 200: { description: 'the task', body: { ref: 'Task' } } },
        async handler({ params, query, principal }) {
          const current = await resolve(params.id, query.namespace);
          assertWritable(current);
          inScope(principal, current, action);
          const suspend = action === 'suspend';
          if (current.spec.suspend === suspend) return view(current);
          return view(await replaceTaskFromInput(core, current.id, { ...taskInputOf(current), suspend }));
        },
      }),
    ),
    defineRoute({
      method: 'GET', url: '/api/tasks/:id/runs', access: 'TaskRead', tag: TAG, summary: "A task's runs, newest first",
      params: IdParams, query: TaskRunsQuery,
      responses: { 200: { description: 'a page of runs (without output)', body: { ref: 'Run', list: true } } },
      async handler({ params, query }) {
        // a deleted task's history stays readable, by its id or its name
        const task = await taskForHistory(core.db, params.id, query.namespace);
        const before = decodeCursor(query.cursor, isRunCursor);
        const runs = await listTaskRuns(core.db, task.id, {
          limit: query.limit + 1,
          ...(before ? { beforeId: before.id } : {}),
          ...(query.status ? { status: query.status } : {}),
        });
        return page(runs, query.limit, (r) => ({ id: r.id }));
      },
    }),
    defineRoute({
      method: 'GET', url: '/api/tasks/:id/stats', access: 'TaskRead', tag: TAG, summary: 'Run counts, success rate and durations over the last N days',
      params: IdParams, query: TaskStatsQuery,
      responses: {
        200: {
          description: 'statistics',
          body: {
            zod: z.object({
              taskId: z.string(), days: z.number().int(), total: z.number().int(), byStatus: z.record(z.string(), z.number().int()),
              successRate: z.number().nullable(), durationMs: z.object({ p50: z.number().nullable(), p95: z.number().nullable(), max: z.number().nullable() }),
            }),
          },
        },
      },
      async handler({ params, query }) {
        const task = await resolve(params.id, query.namespace);
        return { taskId: task.id, ...(await taskStats(core.db, task.id, query.days)) };
      },
    }),
  ];
}
