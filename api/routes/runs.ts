import { TERMINAL_STATUSES } from '../../core/model/index.ts';
import { cancelRun, retryRun } from '../../core/dispatch/run-actions.ts';
import { findTask, getRun, listRuns, runLogs } from '../../core/store/index.ts';
import { AuthError, type Principal } from '../auth.ts';
import { assertInScope } from '../key-scope.ts';
import type { ApiContext } from '../context.ts';
import { decodeCursor, isRunCursor, page } from '../cursor.ts';
import { taskForHistory } from '../task-history.ts';
import { defineRoute, type ApiRoute } from '../route.ts';
import { LogsQuery, LogsView, RunListQuery } from '../schemas.ts';
import { z } from 'zod';
import { followLogs } from '../log-stream.ts';

const TAG = 'runs';
const RunParams = z.strictObject({ id: z.string().min(1).max(40).describe('run id') });

export function runRoutes(api: ApiContext): ApiRoute[] {
  const { core } = api;
  /** a key limited to some types and pools acts only on runs of its tasks; a run whose task is gone is judged by nothing it could reach */
  const assertRunInScope = async (principal: Principal, runId: string, action: string) => {
    if (!principal.scope) return;
    const run = await getRun(core.db, runId);
    const task = await findTask(core.db, run.taskId);
    if (!task) throw new AuthError(403, 'HG_ERR_AUTH_SCOPE', `this key may not ${action} run ${run.id}: its task no longer exists`);
    assertInScope(principal, { type: task.spec.type, pool: task.spec.pool, name: task.name }, action);
  };
  return [
    defineRoute({
      method: 'GET', url: '/api/task-runs', access: 'TaskRead', tag: TAG, summary: 'List runs, newest first',
      description: 'Keyset pages over the run id (fast at any depth): pass nextCursor back as cursor. Output is served with one run only.',
      query: RunListQuery,
      responses: { 200: { description: 'a page of runs', body: { ref: 'Run', list: true } } },
      async handler({ query }) {
        const before = decodeCursor(query.cursor, isRunCursor);
        // a deleted task's history stays readable by its name
        const task = query.task ? await taskForHistory(core.db, query.task, query.namespace) : undefined;
        const runs = await listRuns(
          core.db,
          {
            ...(query.status ? { statuses: query.status } : {}),
            ...(task ? { taskId: task.id } : {}),
            ...(query.pool ? { pool: query.pool } : {}),
            ...(query.from ? { from: new Date(query.from) } : {}),
            ...(query.to ? { to: new Date(query.to) } : {}),
          },
          { limit: query.limit + 1, ...(before ? { beforeId: before.id } : {}) },
        );
        return page(runs, query.limit, (r) => ({ id: r.id }));
      },
    }),
    defineRoute({
      method: 'GET', url: '/api/task-runs/:id', access: 'TaskRead', tag: TAG, summary: 'Get a run, with its output', params: RunParams,
      responses: { 200: { description: 'the run', body: { ref: 'Run' } } },
      handler: async ({ params }) => getRun(core.db, params.id),
    }),
    defineRoute({
      method: 'GET', url: '/api/task-runs/:id/logs', access: 'TaskRead', tag: TAG, summary: "A run's log chunks",
      description: 'stdout and stderr chunks in order, as the worker reported them. With follow=true, a text/event-stream: one `log` event per chunk, then an `end` event with the final status once the run is finished.',
      params: RunParams, query: LogsQuery,
      responses: { 200: { description: 'log chunks (or an event stream with follow=true)', body: { zod: LogsView } } },
      async handler({ params, query, request, reply }) {
        const run = await getRun(core.db, params.id);
        if (query.follow) return followLogs(core, run, query.after, request, reply, api.streams);
        const items = await runLogs(core.db, run.id, { afterSeq: query.after, limit: query.limit });
        return { runId: run.id, status: run.status, items, output: TERMINAL_STATUSES.has(run.status) ? run.output : null };
      },
    }),
    defineRoute({
      method: 'POST', url: '/api/task-runs/:id/cancel', access: 'TaskWrite', tag: TAG, summary: 'Cancel a pending, queued or running run', params: RunParams,
      responses: { 200: { description: 'the cancelled run', body: { ref: 'Run' } } },
      async handler({ params, principal }) {
        await assertRunInScope(principal, params.id, 'cancel');
        return cancelRun(core, params.id);
      },
    }),
    defineRoute({
      method: 'POST', url: '/api/task-runs/:id/retry', access: 'TaskWrite', tag: TAG, summary: 'Run a failed, timed-out or cancelled run again as a new attempt', params: RunParams,
      responses: { 201: { description: 'the new attempt, durable', body: { ref: 'Run' } } },
      async handler({ params, reply, principal }) {
        await assertRunInScope(principal, params.id, 'retry');
        const run = await retryRun(core, params.id);
        reply.code(201).header('location', `/api/task-runs/${run.id}`);
        return run;
      },
    }),
  ];
}
