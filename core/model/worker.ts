import { z } from 'zod';

export const WorkerStatus = z.enum(['ALIVE', 'DRAINING', 'DOWN']);
export type WorkerStatus = z.infer<typeof WorkerStatus>;

export const Worker = z.object({
  id: z.string(),
  pool: z.string(),
  taskTypes: z.array(z.string()),
  status: WorkerStatus,
  concurrency: z.number().int(),
  activeRuns: z.number().int(),
  loadPercentage: z.number(),
  hostname: z.string(),
  version: z.string(),
  startedAt: z.string(),
  lastHeartbeatAt: z.string(),
});
export type Worker = z.infer<typeof Worker>;
