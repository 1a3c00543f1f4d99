import { z } from 'zod';
import { compileSchedule } from '../../core/schedule/index.ts';
import { getTask } from '../../core/store/index.ts';
import type { ApiContext } from '../context.ts';
import { defineRoute, type ApiRoute } from '../route.ts';
import { IdParams } from '../schemas.ts';

const NextFiresQuery = z.strictObject({
  namespace: z.string().max(253).default('').describe("namespace of a task addressed by name ('' = tasks of the API and compose path)"),
  count: z.coerce.number().int().min(1).max(100).default(10).describe('how many fires'),
});

/** The upcoming fires of a task, computed by core/schedule in the task's time zone (DST included). */
export function taskScheduleRoutes(api: ApiContext): ApiRoute[] {
  const { core } = api;
  return [
    defineRoute({
      method: 'GET', url: '/api/tasks/:id/next-fires', access: 'TaskRead', tag: 'tasks', summary: 'The next fires of a task',
      description: 'Empty for a task without a schedule or a suspended one (suspended: true). Times are UTC instants; timeZone is the zone the schedule is read in.',
      params: IdParams, query: NextFiresQuery,
      responses: {
        200: {
          description: 'the next fires, earliest first',
          body: { zod: z.object({ taskId: z.string(), schedule: z.string().nullable(), timeZone: z.string(), suspended: z.boolean(), fires: z.array(z.string()) }) },
        },
      },
      async handler({ params, query }) {
        const task = await getTask(core.db, params.id, query.namespace);
        const { schedule, timeZone, suspend } = task.spec;
        const fires: string[] = [];
        if (schedule && !suspend) {
          const compiled = compileSchedule(schedule, timeZone);
          let after = core.now();
          while (fires.length < query.count) {
            const next = compiled.next(after);
            if (next === undefined) break;
            fires.push(new Date(next).toISOString());
            after = next;
          }
        }
        return { taskId: task.id, schedule: schedule ?? null, timeZone, suspended: suspend, fires };
      },
    }),
  ];
}
