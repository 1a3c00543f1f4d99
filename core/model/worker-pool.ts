import { z } from 'zod';

export const WorkerPoolSpec = z
  .strictObject({
    taskTypes: z.array(z.string().describe('an executor type: shell, http, noop or a registered one')).min(1).default(['shell', 'http']).describe('executor types the workers run'),
    concurrency: z.number().int().min(1).max(1000).default(5).describe('runs per replica'),
    replicas: z
      .strictObject({
        min: z.number().int().min(0).default(1).describe('fewest replicas'),
        max: z.number().int().min(1).default(10).describe('most replicas'),
        desired: z
          .number()
          .int()
          .min(0)
          .optional()
          .describe('set through the scale subresource (kubectl scale, an HPA, KEDA): when present the operator runs exactly this many replicas and stops scaling from the backlog; remove it to hand scaling back'),
      })
      .prefault({})
      .describe('bounds of the backlog-driven scaling')
      .refine((r) => r.min <= r.max, { message: 'min must be <= max', path: ['min'] }),
    scaling: z
      .strictObject({
        backlogPerReplica: z.number().int().min(1).default(10).describe('queued runs one replica is expected to absorb'),
        scaleDownDelaySeconds: z.number().int().min(0).default(300).describe('how long the backlog must stay low before scaling in'),
      })
      .prefault({})
      .describe('how the replica count follows the backlog'),
    template: z
      .strictObject({
        image: z.string().optional().describe('worker image (default: the operator\'s operator.worker_image)'),
        env: z.array(z.record(z.string(), z.unknown()).describe('a Kubernetes EnvVar')).default([]).describe('extra container env entries (Kubernetes EnvVar objects)'),
        resources: z.record(z.string(), z.unknown()).default({}).describe('container resources (Kubernetes ResourceRequirements: requests, limits)'),
        nodeSelector: z.record(z.string(), z.string()).default({}).describe('pod nodeSelector'),
        tolerations: z.array(z.record(z.string(), z.unknown()).describe('a Kubernetes Toleration')).default([]).describe('pod tolerations'),
      })
      .prefault({})
      .describe('what the worker Deployment\'s pods look like'),
  })
  .describe('a pool of worker replicas fed by one queue');
export type WorkerPoolSpec = z.output<typeof WorkerPoolSpec>;
