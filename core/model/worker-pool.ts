import { z } from 'zod';

export const WorkerPoolSpec = z
  .strictObject({
    taskTypes: z.array(z.string()).min(1).default(['shell', 'http']).describe('executor types the workers run'),
    concurrency: z.number().int().min(1).max(1000).default(5).describe('runs per replica'),
    replicas: z
      .strictObject({
        min: z.number().int().min(0).default(1).describe('fewest replicas'),
        max: z.number().int().min(1).default(10).describe('most replicas'),
      })
      .prefault({})
      .refine((r) => r.min <= r.max, { message: 'min must be <= max', path: ['min'] }),
    scaling: z
      .strictObject({
        backlogPerReplica: z.number().int().min(1).default(10).describe('queued runs one replica is expected to absorb'),
        scaleDownDelaySeconds: z.number().int().min(0).default(300).describe('how long the backlog must stay low before scaling in'),
      })
      .prefault({}),
    template: z
      .strictObject({
        image: z.string().optional().describe('worker image'),
        env: z.array(z.record(z.string(), z.unknown())).default([]).describe('extra container env entries'),
        resources: z.record(z.string(), z.unknown()).default({}),
        nodeSelector: z.record(z.string(), z.string()).default({}),
        tolerations: z.array(z.record(z.string(), z.unknown())).default([]),
      })
      .prefault({}),
  })
  .describe('a pool of worker replicas fed by one queue');
export type WorkerPoolSpec = z.output<typeof WorkerPoolSpec>;
