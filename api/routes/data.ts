import { z } from 'zod';
import { parseDurationMs } from '../../core/model/index.ts';
import { countFinishedRunsBefore, deleteFinishedRunsBefore, reindexTables, vacuumTables } from '../../core/store/index.ts';
import type { ApiContext } from '../context.ts';
import { defineRoute, type ApiRoute } from '../route.ts';
import { Instant } from '../schemas.ts';

const TAG = 'system';

/** Rows per DELETE when the caller does not page itself: short transactions, bounded lock time. */
const DEFAULT_BATCH = 1000;

const CleanupBody = z
  .strictObject({
    olderThan: z
      .string()
      .refine((text) => (parseDurationMs(text) ?? 0) > 0, 'must be a positive duration such as 30d, 12h or 90m')
      .optional()
      .describe('age of the runs to delete, counted back from now'),
    before: Instant.optional().describe('absolute cutoff instead of olderThan'),
    dryRun: z.boolean().default(false).describe('only count what would be deleted'),
    batchSize: z.number().int().min(1).max(100_000).optional().describe('delete one batch of at most this many runs and answer; call again until done'),
  })
  .refine((body) => (body.olderThan === undefined) !== (body.before === undefined), { message: 'give exactly one of olderThan and before', path: ['olderThan'] });

const CleanupAnswer = z.object({
  cutoff: z.string().describe('runs that finished before this instant are (or would be) deleted'),
  dryRun: z.boolean(),
  runs: z.number().int().describe('finished runs deleted, or that would be with dryRun'),
  logs: z.number().int().describe('their log chunks'),
  done: z.boolean().describe('false when a batchSize call left more to delete: call again'),
});
const MaintenanceAnswer = z.object({
  tables: z.array(z.string()),
  bytesBefore: z.number(),
  bytesAfter: z.number(),
  durationMs: z.number(),
});

/**
 * Data maintenance (SystemWrite): cleanup of old finished runs, VACUUM and REINDEX. Cleanup answers the
 * counts; with batchSize it does one batch per call, so a client can show progress and stop at any time.
 */
export function dataRoutes(api: ApiContext): ApiRoute[] {
  const { core } = api;
  return [
    defineRoute({
      method: 'POST', url: '/api/system/data/cleanup', access: 'SystemWrite', tag: TAG,
      summary: 'Delete finished runs (and their logs) older than a cutoff',
      description: 'Active runs are never deleted. Without batchSize every batch is done in this call; with it, one batch per call (done=false: call again with the same cutoff as before). dryRun only counts.',
      body: CleanupBody,
      responses: { 200: { description: 'what was deleted, or would be', body: { zod: CleanupAnswer } } },
      async handler({ body, request }) {
        const cutoff = body.before ? new Date(body.before) : new Date(core.now() - (parseDurationMs(body.olderThan as string) as number));
        const answer = { cutoff: cutoff.toISOString(), dryRun: body.dryRun };
        if (body.dryRun) return { ...answer, ...(await countFinishedRunsBefore(core.db, cutoff)), done: true };
        if (body.batchSize) {
          const batch = await deleteFinishedRunsBefore(core.db, cutoff, body.batchSize);
          return { ...answer, ...batch, done: batch.runs < body.batchSize };
        }
        const total = { runs: 0, logs: 0 };
        for (;;) {
          const batch = await deleteFinishedRunsBefore(core.db, cutoff, DEFAULT_BATCH);
          total.runs += batch.runs;
          total.logs += batch.logs;
          if (batch.runs < DEFAULT_BATCH) break;
        }
        request.log.info({ cutoff: answer.cutoff, ...total }, 'old runs deleted');
        return { ...answer, ...total, done: true };
      },
    }),
    defineRoute({
      method: 'POST', url: '/api/system/data/vacuum', access: 'SystemWrite', tag: TAG,
      summary: "VACUUM (ANALYZE) the scheduler's tables",
      responses: { 200: { description: 'the tables and their size before and after', body: { zod: MaintenanceAnswer } } },
      handler: async () => vacuumTables(core.db),
    }),
    defineRoute({
      method: 'POST', url: '/api/system/data/reindex', access: 'SystemWrite', tag: TAG,
      summary: "Rebuild the indexes of the scheduler's tables (concurrently on PostgreSQL)",
      responses: { 200: { description: 'the tables and their size before and after', body: { zod: MaintenanceAnswer } } },
      handler: async () => reindexTables(core.db),
    }),
  ];
}
