import { z } from 'zod';

/**
 * The status the operator writes back to its custom resources: small on purpose (full history lives in
 * Postgres). The CRDs' status schemas are generated from these, so `kubectl explain st.status` reads them.
 */

const Time = z.string().describe('RFC 3339 time');

export const Condition = z
  .object({
    type: z.string().describe('Ready or Degraded (tasks); Ready, ScalingActive or Degraded (pools)'),
    status: z.enum(['True', 'False', 'Unknown']).describe('True, False or Unknown'),
    reason: z.string().describe('PascalCase reason, e.g. Scheduled, InvalidSchedule, UnknownTimeZone'),
    message: z.string().describe('what happened, for humans'),
    lastTransitionTime: Time.describe('when status last changed'),
    observedGeneration: z.number().int().optional().describe('metadata.generation the condition was computed from'),
  })
  .describe('one condition of the resource');
export type Condition = z.infer<typeof Condition>;

export const RUN_PHASES = ['Pending', 'Queued', 'Running', 'Succeeded', 'Failed', 'TimedOut', 'Cancelled', 'Missed', 'Skipped'] as const;

export const ActiveRunRef = z
  .object({
    runId: z.string().describe('run id in Hourglass (scheduler-cli runs get ID)'),
    scheduledTime: Time.describe('the schedule slot (or trigger time) of the run'),
    phase: z.enum(RUN_PHASES).describe('Pending, Queued or Running'),
  })
  .describe('a run that has not finished');

export const LastRun = z
  .object({
    runId: z.string().describe('run id in Hourglass'),
    phase: z.enum(RUN_PHASES).describe('outcome of the run'),
    scheduledTime: Time.describe('the schedule slot (or trigger time) of the run'),
    finishedAt: Time.optional().describe('when the run finished'),
    trigger: z.string().optional().describe('schedule, manual, retry or dependency'),
  })
  .describe('the most recently finished run');

export const ScheduledTaskStatus = z
  .object({
    observedGeneration: z.number().int().optional().describe('metadata.generation this status reflects'),
    conditions: z.array(Condition).optional().describe('Ready and Degraded'),
    taskId: z.string().optional().describe('id of the task in Hourglass (REST API and scheduler-cli)'),
    lastScheduleTime: Time.optional().describe('the latest schedule slot turned into runs'),
    nextScheduleTime: Time.optional().describe('the next schedule slot (absent when suspended or on demand only)'),
    lastSuccessfulTime: Time.optional().describe('when a run last succeeded'),
    active: z.array(ActiveRunRef).optional().describe('runs not finished yet (at most 20 are listed)'),
    activeRuns: z.number().int().optional().describe('how many runs are not finished yet (counted up to 20), as the Active column shows'),
    lastRun: LastRun.optional(),
    lastTrigger: z.string().optional().describe('the last value of the scheduling.hourglass.dev/trigger annotation that was turned into a run'),
    pendingTrigger: z
      .object({
        value: z.string().describe('the annotation value being handled'),
        time: Time.describe('the time (slot key) of its manual run'),
      })
      .optional()
      .describe('a trigger being turned into a run; recorded first so that a retry creates the same run, never a second one'),
  })
  .describe('what the operator observed; full history is in Postgres');
export type ScheduledTaskStatus = z.infer<typeof ScheduledTaskStatus>;

export const WorkerPoolStatus = z
  .object({
    observedGeneration: z.number().int().optional().describe('metadata.generation this status reflects'),
    conditions: z.array(Condition).optional().describe('Ready and ScalingActive'),
    replicas: z.number().int().optional().describe('replicas of the worker Deployment (the scale subresource reads it)'),
    readyReplicas: z.number().int().optional().describe('ready replicas of the worker Deployment'),
    desiredReplicas: z.number().int().optional().describe('replicas the operator asked for'),
    backlog: z.number().int().optional().describe('runs queued for the pool and not yet taken by a worker'),
    activeRuns: z.number().int().optional().describe('runs of the pool executing now'),
    lastScaleTime: Time.optional().describe('when the operator last changed the replica count'),
    selector: z.string().optional().describe('label selector of the worker pods (for HPA through the scale subresource)'),
    deployment: z.string().optional().describe('name of the worker Deployment'),
  })
  .describe('what the operator observed');
export type WorkerPoolStatus = z.infer<typeof WorkerPoolStatus>;
