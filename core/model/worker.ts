import { z } from 'zod';

/** DOWN: went silent (declared dead); STOPPED: stopped cleanly after draining. Both age out of the list. */
export const WorkerStatus = z.enum(['ALIVE', 'DRAINING', 'DOWN', 'STOPPED']);
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
