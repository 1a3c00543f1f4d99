import { z } from 'zod';
import { boundedRecord, boundedText, checkFreeJson } from './bounded-text.ts';

/**
 * Upper bounds of a task spec. Every number has one: an unbounded value (backoff 1e308 seconds) once
 * made an invalid date deep in outcome handling and stopped status for every worker (issue 13 item 3).
 */
const WEEK_SECONDS = 604_800;
const MONTH_SECONDS = 31 * 86_400;
export const SPEC_LIMITS = {
  commandArgs: 1_000, argChars: 65_536, envEntries: 200, envNameChars: 256, envValueChars: 65_536, pathChars: 4_096,
  urlChars: 8_192, headers: 100, headerNameChars: 256, headerValueChars: 8_192, bodyChars: 1_048_576,
  labels: 64, scheduleChars: 256, historyRuns: 10_000,
} as const;
const L = SPEC_LIMITS;

/** Kubernetes-style object name: what a ScheduledTask's metadata.name may be. */
export const NAME_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const TaskName = z
  .string()
  .min(1, 'must not be empty')
  .max(63, 'must be at most 63 characters')
  .regex(NAME_RE, 'must be lower-case letters, digits and "-", starting and ending with a letter or digit');

/** A file name under the worker's secrets directory: no path separators, no "." or ".." (no escape from it). */
const SecretFileName = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9_][A-Za-z0-9._-]*$/, 'must be letters, digits, ".", "_" and "-", not starting with "." (a file name under the worker\'s secrets directory)');

/**
 * A value the worker reads at run time from its secrets directory (`<dir>/<name>/<key>`, the layout of a
 * mounted Kubernetes Secret), so the credential is never stored in the task nor shown to TaskRead keys.
 */
export const SecretKeyRef = z
  .strictObject({
    secretKeyRef: z.strictObject({
      name: SecretFileName.describe('the secret (a directory under the worker\'s secrets directory, e.g. a mounted Secret)'),
      key: SecretFileName.describe('the key in it (a file in that directory)'),
    }).describe('which secret and key'),
  })
  .describe('a value resolved on the worker from a secret it holds');

const MAX_SECRET_REFS = 50;

export const ShellSpec = z
  .strictObject({
    command: z.array(boundedText(L.argChars).describe('one argument')).min(1, 'must hold at least the program to run').max(L.commandArgs, `must have at most ${L.commandArgs} arguments`).describe('argv; use ["sh","-c","..."] for a shell line'),
    env: boundedRecord(L.envEntries, L.envNameChars, L.envValueChars)
      .refine((env) => Object.keys(env).every((name) => name !== '' && !name.includes('=')), 'names must be non-empty and contain no "="')
      .default({})
      .describe('extra environment variables for the process'),
    secretEnv: z
      .record(boundedText(L.envNameChars).regex(/^[^=]+$/, 'must contain no "="'), SecretKeyRef)
      .refine((refs) => Object.keys(refs).length <= MAX_SECRET_REFS, `must have at most ${MAX_SECRET_REFS} entries`)
      .optional()
      .describe('environment variables whose values the worker reads from its secrets (never stored in the task)'),
    workingDir: boundedText(L.pathChars).optional().describe('working directory of the process'),
  })
  .describe('a process run by the worker in its own process group');

export const HttpSpec = z
  .strictObject({
    method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD']).default('GET').describe('HTTP method'),
    url: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).max(L.urlChars, `must be at most ${L.urlChars} characters`).describe('target URL'),
    headers: boundedRecord(L.headers, L.headerNameChars, L.headerValueChars).default({}).describe('request headers (X-Hourglass-* ones are replaced by the worker\'s)'),
    secretHeaders: z
      .record(boundedText(L.headerNameChars), SecretKeyRef.extend({
        prefix: boundedText(64).optional().describe('put before the secret, e.g. "Bearer "'),
      }))
      .refine((refs) => Object.keys(refs).length <= MAX_SECRET_REFS, `must have at most ${MAX_SECRET_REFS} entries`)
      .optional()
      .describe('request headers whose values the worker reads from its secrets (never stored in the task), e.g. Authorization'),
    body: boundedText(L.bodyChars).optional().describe('request body'),
    expectedStatus: z
      .array(z.number().int().min(100).max(599).describe('an HTTP status code'))
      .min(1)
      .max(500)
      .default([200, 201, 202, 204])
      .describe('statuses that count as success'),
  })
  .describe('an HTTP request made by the worker');

export const RetryBackoff = z.strictObject({
  initialSeconds: z.number().min(0).max(WEEK_SECONDS).default(10).describe('delay before the first retry'),
  factor: z.number().min(1).max(100).default(2).describe('multiplier per further retry'),
  maxSeconds: z.number().min(0).max(WEEK_SECONDS).default(3600).describe('upper bound of one delay'),
  jitter: z.number().min(0).max(1).default(0.1).describe('random fraction added to or taken from each delay'),
}).describe('delay between attempts: initialSeconds * factor^(retry-1), capped at maxSeconds, with jitter');

export const RetryPolicy = z.strictObject({
  limit: z.number().int().min(0).max(100).default(0).describe('retries after the first attempt fails'),
  backoff: RetryBackoff.prefault({}),
}).describe('how a failed attempt is retried');

export const HistoryLimits = z.strictObject({
  successfulRunsLimit: z.number().int().min(0).max(L.historyRuns).default(100).describe('successful runs kept'),
  failedRunsLimit: z.number().int().min(0).max(L.historyRuns).default(100).describe('failed runs kept (failed, timed out, cancelled, missed and skipped)'),
}).describe('how many finished runs are kept in the history');

export const ConcurrencyPolicy = z.enum(['Allow', 'Forbid', 'Replace']);
export const CatchUpPolicy = z.enum(['None', 'Latest', 'All']);

const TaskSpecFields = z.strictObject({
  type: z
    .string({ error: 'is required: shell, http, or a registered executor type' })
    .max(63)
    .regex(/^[a-z][a-z0-9-]*$/, 'must be shell, http, or a registered executor type (lower-case)')
    .describe('executor that runs the task; exactly the block of the same name must be given'),
  shell: ShellSpec.optional().describe('the process to run; required when type is shell, forbidden otherwise'),
  http: HttpSpec.optional().describe('the request to make; required when type is http, forbidden otherwise'),
  params: z.record(z.string(), z.unknown()).superRefine(checkFreeJson).optional().describe('parameters for a custom executor type (at most 32 levels deep, 256 KiB as JSON)'),
  schedule: boundedText(L.scheduleChars).min(1).optional().describe('cron (5 fields, 6 with seconds first, 7 with a year last), @hourly-style macro, or @every <duration>; absent = on demand only'),
  timeZone: boundedText(64).default('UTC').describe('IANA time zone of the schedule'),
  suspend: z.boolean().default(false).describe('when true, no scheduled fires (manual triggers still run)'),
  concurrencyPolicy: ConcurrencyPolicy.default('Allow').describe('what to do when a fire comes while a run is active'),
  startingDeadlineSeconds: z.number().int().min(0).max(MONTH_SECONDS).optional().describe('a fire later than this is recorded as missed'),
  catchUp: CatchUpPolicy.default('Latest').describe('which fires missed during downtime are run'),
  maxCatchUp: z.number().int().min(1).max(10_000).default(100).describe('with catchUp All, at most this many missed fires run'),
  jitterSeconds: z.number().int().min(0).max(86_400).default(0).describe('random delay added to each fire'),
  pool: TaskName.default('default').describe('WorkerPool that runs the task'),
  priority: z.number().int().min(-100).max(100).default(0).describe('higher runs first within a pool'),
  timeoutSeconds: z.number().int().positive('must be a positive number of seconds').max(604_800).default(300).describe('the run is killed after this'),
  retry: RetryPolicy.prefault({}).describe('how a failed attempt is retried'),
  dependsOn: z.array(TaskName.describe('name of a ScheduledTask in the same namespace')).max(50).default([]).describe('fire only when the latest run of each of these succeeded'),
  shards: z.number().int().min(1).max(1000).default(1).describe('fan out this many runs per fire'),
  history: HistoryLimits.prefault({}).describe('how many finished runs are kept in the history'),
});

function checkTypeBlock(spec: { type: string; shell?: unknown; http?: unknown }, ctx: z.RefinementCtx): void {
  for (const block of ['shell', 'http'] as const) {
    const present = spec[block] !== undefined;
    if (spec.type === block && !present) {
      ctx.addIssue({ code: 'custom', path: [block], message: `is required when type is "${block}"` });
    }
    if (spec.type !== block && present) {
      ctx.addIssue({ code: 'custom', path: [block], message: `must not be set when type is "${spec.type}"` });
    }
  }
}

/** The one task spec: CRD, REST API, `scheduler-cli apply -f` and the database all use it. */
export const TaskSpec = TaskSpecFields.superRefine(checkTypeBlock);
export type TaskSpec = z.output<typeof TaskSpec>;
export type TaskSpecInput = z.input<typeof TaskSpec>;

export const TaskLabels = boundedRecord(L.labels, 63, 63).default({});

/** REST input: the spec's fields at the top level plus name and labels. */
export const TaskInput = TaskSpecFields.extend({ name: TaskName, labels: TaskLabels }).superRefine(checkTypeBlock);
export type TaskInput = z.output<typeof TaskInput>;

export const TaskSource = z.enum(['api', 'kubernetes']);

export const Task = z.object({
  id: z.string(),
  name: z.string(),
  namespace: z.string(),
  labels: z.record(z.string(), z.string()),
  source: TaskSource,
  spec: TaskSpecFields,
  generation: z.number().int(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type Task = { id: string; name: string; namespace: string; labels: Record<string, string>; source: z.infer<typeof TaskSource>; spec: TaskSpec; generation: number; createdAt: string; updatedAt: string };

/** Splits a REST task body into identity and spec. */
export function splitTaskInput(input: TaskInput): { name: string; labels: Record<string, string>; spec: TaskSpec } {
  const { name, labels, ...spec } = input;
  return { name, labels, spec: spec as TaskSpec };
}
