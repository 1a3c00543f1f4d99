import type { Command } from 'commander';
import { parseDurationMs } from '../../core/model/index.ts';
import { CliError, EXIT } from '../exit-codes.ts';
import { bytes } from '../output.ts';
import { progressBar } from '../progress.ts';
import { examples, positiveInt, type CliContext } from './context.ts';

interface CleanupAnswer {
  cutoff: string;
  dryRun: boolean;
  runs: number;
  logs: number;
  done: boolean;
}

interface MaintenanceAnswer {
  tables: string[];
  bytesBefore: number;
  bytesAfter: number;
  durationMs: number;
}

/** VACUUM and REINDEX of a large history take minutes: no client-side timeout. */
const NO_TIMEOUT = { timeoutMs: 0 };

export function registerDataCommands(program: Command, ctx: CliContext): void {
  const data = examples(
    program.command('data').description('data maintenance: delete old run history, vacuum, reindex (needs SystemWrite)'),
    'scheduler-cli data cleanup --older-than 30d --dry-run',
    'scheduler-cli data cleanup --older-than 30d',
    'scheduler-cli data vacuum',
  );

  examples(
    data
      .command('cleanup')
      .description('delete finished runs (and their logs) older than a given age, in batches; active runs are never touched')
      .requiredOption('--older-than <age>', 'how old a finished run must be: 30d, 12h, 90m')
      .option('--dry-run', 'only count what would be deleted')
      .option('--batch-size <n>', 'runs deleted per request', positiveInt, 1000),
    'scheduler-cli data cleanup --older-than 30d --dry-run',
    'scheduler-cli data cleanup --older-than 90d --batch-size 5000',
  ).action(async (flags: { olderThan: string; dryRun?: boolean; batchSize: number }) => {
    if (!((parseDurationMs(flags.olderThan) ?? 0) > 0)) throw new CliError(`--older-than "${flags.olderThan}" is not a duration such as 30d, 12h or 90m`, EXIT.usage);
    const client = ctx.client();
    const out = ctx.out();
    // the dry run fixes the cutoff, so the batches that follow all delete the same set
    const plan = await client.post<CleanupAnswer>('/api/system/data/cleanup', { olderThan: flags.olderThan, dryRun: true }, NO_TIMEOUT);
    if (flags.dryRun) {
      out.message(`would delete ${plan.runs} finished runs and ${plan.logs} log chunks finished before ${plan.cutoff} (dry run)`, plan);
      return;
    }
    const total = { runs: 0, logs: 0 };
    const bar = progressBar(plan.runs, 'runs');
    for (;;) {
      const batch = await client.post<CleanupAnswer>('/api/system/data/cleanup', { before: plan.cutoff, batchSize: flags.batchSize }, NO_TIMEOUT);
      total.runs += batch.runs;
      total.logs += batch.logs;
      bar.update(total.runs);
      if (batch.done) break;
    }
    bar.finish();
    out.message(`deleted ${total.runs} finished runs and ${total.logs} log chunks finished before ${plan.cutoff}`, { cutoff: plan.cutoff, dryRun: false, ...total });
  });

  const maintenance = (verb: 'vacuum' | 'reindex', text: string, done: string) =>
    examples(data.command(verb).description(text), `scheduler-cli data ${verb}`).action(async () => {
      const answer = await ctx.client().post<MaintenanceAnswer>(`/api/system/data/${verb}`, undefined, NO_TIMEOUT);
      ctx.out().message(
        `${done} ${answer.tables.length} tables in ${(answer.durationMs / 1000).toFixed(1)}s; size ${bytes(answer.bytesBefore)} -> ${bytes(answer.bytesAfter)}`,
        answer,
      );
    });
  maintenance('vacuum', 'VACUUM (ANALYZE) the scheduler tables: reclaim space of deleted rows, refresh planner statistics', 'vacuumed');
  maintenance('reindex', 'rebuild the indexes of the scheduler tables (concurrently on PostgreSQL)', 'reindexed');
}
