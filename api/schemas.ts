import { z } from 'zod';
import { Run, RunStatus, TaskInput, WorkerPoolSpec, WorkerStatus, Worker } from '../core/model/index.ts';
import { ProblemSchema } from './problem.ts';

/**
 * Request and response schemas of the REST API that core/model does not already define. Requests are
 * parsed with them (errors name the field); responses are documented with them (api/openapi.ts).
 */

const MAX_LIMIT = 500;

/**
 * An RFC 3339 instant in the range the database stores and the clock means: 1970 to 9999. The format
 * alone admits year 0000, which Postgres refuses (a 500 instead of a 400 naming the field).
 */
export const Instant = z.iso
  .datetime({ offset: true, error: 'must be an RFC 3339 date-time, e.g. 2026-01-31T12:00:00Z' })
  .refine((text) => {
    const ms = Date.parse(text);
    return Number.isFinite(ms) && ms >= 0 && ms < Date.UTC(10_000, 0, 1);
  }, 'must be between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59Z');
export const Limit = z.coerce.number().int().min(1).max(MAX_LIMIT).default(50).describe(`page size, 1..${MAX_LIMIT}`);
export const Cursor = z.string().max(512).optional().describe('the nextCursor of the previous page');
const Namespace = z.string().max(253).default('').describe("namespace of a task addressed by name ('' = tasks of the API and compose path)");
const BoolString = z.enum(['true', 'false']).transform((v) => v === 'true');

export const IdParams = z.strictObject({ id: z.string().min(1).max(253).describe('id, or name') });
export const NameParams = z.strictObject({ name: z.string().min(1).max(253) });
export const NamespaceQuery = z.strictObject({ namespace: Namespace });

export const TaskListQuery = z.strictObject({
  limit: Limit,
  cursor: Cursor,
  namespace: z.string().max(253).optional().describe('only this namespace; absent = all'),
  type: z.string().max(63).optional().describe('task type, e.g. shell'),
  pool: z.string().max(63).optional(),
  suspended: BoolString.optional(),
  name: z.string().min(1).max(63).optional().describe('substring of the name, case-insensitive'),
  label: z
    .union([z.string(), z.array(z.string())])
    .optional()
    .transform((v, ctx) => {
      const out: Record<string, string> = {};
      for (const pair of v === undefined ? [] : Array.isArray(v) ? v : [v]) {
        const at = pair.indexOf('=');
        if (at <= 0) ctx.addIssue({ code: 'custom', message: `expected key=value, got ${JSON.stringify(pair.slice(0, 80))}` });
        else out[pair.slice(0, at)] = pair.slice(at + 1);
      }
      return out;
    })
    .describe('key=value; repeat for several labels'),
});

export const RunListQuery = z.strictObject({
  limit: Limit,
  cursor: Cursor,
  status: z
    .union([RunStatus, z.string().regex(/^[a-z_]+(,[a-z_]+)+$/)])
    .optional()
    .transform((v, ctx) => {
      if (v === undefined) return undefined;
      const list = v.split(',');
      for (const s of list) if (!RunStatus.safeParse(s).success) ctx.addIssue({ code: 'custom', message: `unknown status "${s}"` });
      return list as RunStatus[];
    })
    .describe('one status or a comma-separated list'),
  task: z.string().min(1).max(253).optional().describe('task id or name'),
  namespace: Namespace,
  pool: z.string().max(63).optional(),
  from: Instant.optional().describe('scheduled at or after (RFC 3339)'),
  to: Instant.optional().describe('scheduled before (RFC 3339)'),
});

export const TaskRunsQuery = z.strictObject({ limit: Limit, cursor: Cursor, namespace: Namespace, status: RunStatus.optional() });
export const TaskStatsQuery = z.strictObject({ days: z.coerce.number().int().min(1).max(365).default(7), namespace: Namespace });
export const LogsQuery = z.strictObject({
  follow: BoolString.default(false).describe('stream as server-sent events until the run is finished'),
  after: z.coerce.number().int().min(-1).max(2_147_483_647, 'must be a log chunk seq (at most 2147483647)').default(-1).describe('only chunks with a greater seq'),
  limit: z.coerce.number().int().min(1).max(5000).default(1000),
});
export const WorkerListQuery = z.strictObject({ limit: Limit, cursor: Cursor, status: WorkerStatus.optional(), pool: z.string().max(63).optional() });
export const WorkerStatsQuery = z.strictObject({ hours: z.coerce.number().int().min(1).max(720).default(24) });

/** documents PATCH: every field optional; null removes a field (restoring its default) */
export const TaskPatch = z.object(TaskInput.shape).partial().describe('JSON merge patch (RFC 7386) of a task');

export const PoolBody = WorkerPoolSpec.extend({ labels: z.record(z.string().max(63), z.string().max(63)).default({}) });

export const TaskView = TaskInput.safeExtend({
    id: z.string(),
    namespace: z.string().optional().describe('set for tasks that come from Kubernetes'),
    source: z.enum(['api', 'kubernetes']),
    generation: z.number().int(),
    createdAt: z.string(),
    updatedAt: z.string(),
    nextScheduleTime: z.string().nullable(),
    lastRun: Run.nullable(),
    warnings: z.array(z.string()).optional().describe('present when the task cannot run as written: a dependsOn naming no task, a schedule that never fires'),
}).describe('a task: its spec fields at the top level, plus identity and state');

export const PoolView = z.object({
  name: z.string(),
  namespace: z.string().optional(),
  declared: z.boolean().describe('false for a pool that only appears in runs or workers'),
  source: z.enum(['api', 'kubernetes']).nullable(),
  labels: z.record(z.string(), z.string()),
  spec: WorkerPoolSpec.nullable(),
  backlog: z.number().int().describe('pending and queued runs'),
  workersAlive: z.number().int(),
  activeRuns: z.number().int(),
  createdAt: z.string().nullable(),
  updatedAt: z.string().nullable(),
});

export const LogChunkSchema = z.object({ seq: z.number().int(), attempt: z.number().int(), stream: z.enum(['stdout', 'stderr']), chunk: z.string(), at: z.string() });
export const LogsView = z.object({ runId: z.string(), status: RunStatus, items: z.array(LogChunkSchema), output: z.string().nullable() });

export const TokenRequest = z.strictObject({ apiKey: z.string().min(1).max(4096).optional().describe('the API key; or send it as X-API-Key') });
export const RefreshRequest = z.strictObject({ refreshToken: z.string().min(1).max(8192) });
export const TokenView = z.object({
  accessToken: z.string(),
  tokenType: z.literal('Bearer'),
  expiresIn: z.number().int().describe('seconds'),
  refreshToken: z.string().optional(),
  refreshExpiresIn: z.number().int().optional(),
  permissions: z.array(z.string()),
});

/** Named in components/schemas and referenced by name from the route table. */
export const NAMED_SCHEMAS: Record<string, z.ZodType> = {
  Task: TaskView,
  TaskInput,
  Run,
  Worker,
  Pool: PoolView,
  Problem: ProblemSchema,
};
