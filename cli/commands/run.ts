import { Option, type Command } from 'commander';
import { RETRYABLE_OUTCOMES, RUN_STATUSES, TERMINAL_STATUSES, type RunStatus } from '../../core/model/run.ts';
import { parseDurationMs } from '../../core/model/index.ts';
import { CliError, EXIT } from '../exit-codes.ts';
import type { Column } from '../output.ts';
import { collectPages, examples, positiveInt, query, resourcePath, type CliContext } from './context.ts';

type Row = Record<string, unknown>;

export const RUN_COLUMNS: Column[] = ['id', 'taskName', 'attempt', 'trigger', 'status', 'scheduledTime', 'durationMs', 'exitCode', 'error'];
const RUN_FIELDS = [
  'id', 'taskName', 'taskId', 'status', 'trigger', 'attempt', 'shard', 'shardTotal', 'pool', 'priority', 'workerId', 'scheduledTime',
  'queuedAt', 'startedAt', 'finishedAt', 'durationMs', 'exitCode', 'httpStatus', 'error',
];

/** A time flag: ISO 8601, or an age such as 2h or 1h30m counted back from now. */
function timeFlag(value: string | undefined, flag: string): string | undefined {
  if (value === undefined) return undefined;
  const ageMs = parseDurationMs(value);
  if (ageMs !== undefined) return new Date(Date.now() - ageMs).toISOString();
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new CliError(`${flag} "${value}" is neither an ISO 8601 time nor an age like 2h`, EXIT.usage);
  return new Date(ms).toISOString();
}

/** Log chunks as the API returns them, in order; text answers pass through. */
function logText(payload: unknown): string {
  if (typeof payload === 'string') return payload;
  const items = (payload as { items?: unknown[] } | null)?.items ?? (Array.isArray(payload) ? payload : []);
  return items.map(chunkText).join('');
}

function chunkText(entry: unknown): string {
  if (typeof entry === 'string') return entry;
  const row = entry as { chunk?: string; text?: string; line?: string } | null;
  return row?.chunk ?? row?.text ?? row?.line ?? '';
}

/** Streams a run's log to stdout until the run ends; resolves with its final status. */
export async function followLogs(ctx: CliContext, id: string): Promise<string | undefined> {
  for await (const event of ctx.client().events(`${resourcePath('task-runs', id, '/logs')}?follow=true`)) {
    const data = event.data as Row | string | undefined;
    if (event.event === 'end') return typeof data === 'object' && data ? String(data.status ?? '') : String(data ?? '');
    if (event.event === 'error') throw new CliError(`log stream: ${typeof data === 'string' ? data : JSON.stringify(data)}`);
    ctx.out().raw(chunkText(data));
  }
  return undefined;
}

/** Polls a run until it is finished; resolves with it. */
export async function waitForRun(ctx: CliContext, id: string, intervalMs = 500): Promise<Row> {
  for (;;) {
    const run = await ctx.client().get<Row>(resourcePath('task-runs', id));
    if (TERMINAL_STATUSES.has(run.status as RunStatus)) return run;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * The retry of a finished attempt, when the task has one left: the core creates it in the same transaction
 * that records the failure, so it exists as soon as the failed attempt is seen.
 */
export async function nextAttempt(ctx: CliContext, run: Row): Promise<Row | undefined> {
  if (!RETRYABLE_OUTCOMES.has(run.status as RunStatus)) return undefined;
  const slot = Date.parse(String(run.scheduledTime));
  const path = `/api/task-runs${query({ task: String(run.taskName), from: new Date(slot).toISOString(), to: new Date(slot + 1).toISOString(), limit: 500 })}`;
  const runs = await collectPages<Row>(ctx.client(), path, 500);
  return runs.find((r) => r.attempt === Number(run.attempt) + 1 && r.shard === run.shard);
}

export function registerRunCommands(program: Command, ctx: CliContext): void {
  const run = examples(
    program.command('run').description('inspect, cancel and retry runs'),
    'scheduler-cli run list --status failed --from 24h',
    'scheduler-cli run logs 42 --follow',
  );

  examples(
    run
      .command('list')
      .description('list runs, newest first')
      // a bad value is a usage error naming the allowed ones, before any request
      .addOption(new Option('--status <status>', 'only runs in this status').choices(RUN_STATUSES))
      .option('--task <name>', 'only runs of this task')
      .option('--pool <pool>', 'only runs of this pool')
      .option('--from <time>', 'scheduled at or after (ISO 8601, or an age: 2h, 7d)')
      .option('--to <time>', 'scheduled before (ISO 8601, or an age)')
      .option('--limit <n>', 'at most this many', positiveInt, 50),
    'scheduler-cli run list',
    'scheduler-cli run list --task nightly-report --status failed --from 7d -o json',
  ).action(async (flags: { status?: string; task?: string; pool?: string; from?: string; to?: string; limit: number }) => {
    const path = `/api/task-runs${query({
      status: flags.status, task: flags.task, pool: flags.pool,
      from: timeFlag(flags.from, '--from'), to: timeFlag(flags.to, '--to'), limit: Math.min(flags.limit, 500),
    })}`;
    ctx.out().list(await collectPages<Row>(ctx.client(), path, flags.limit), RUN_COLUMNS);
  });

  examples(run.command('get <id>').description('show one run, with its captured output'), 'scheduler-cli run get 42', 'scheduler-cli run get 42 -o json').action(
    async (id: string) => {
      const value = await ctx.client().get<Row>(resourcePath('task-runs', id));
      const out = ctx.out();
      out.item(value, RUN_FIELDS);
      if (out.format === 'table' && value.output) out.raw(`\noutput:\n${String(value.output)}${String(value.output).endsWith('\n') ? '' : '\n'}`);
    },
  );

  examples(
    run.command('logs <id>').description("print a run's log; --follow streams it until the run finishes").option('-f, --follow', 'keep streaming until the run ends'),
    'scheduler-cli run logs 42',
    'scheduler-cli run logs 42 --follow',
  ).action(async (id: string, flags: { follow?: boolean }) => {
    const client = ctx.client();
    if (!flags.follow) {
      const payload = await client.get(resourcePath('task-runs', id, '/logs'));
      const out = ctx.out();
      // -o json|yaml: the chunks with their stream and time, for scripts; otherwise the text itself
      if (out.format === 'table') out.raw(logText(payload));
      else out.item(payload);
      return;
    }
    const final = await followLogs(ctx, id);
    if (final) process.stderr.write(`run ${id} ${final}\n`);
  });

  examples(run.command('cancel <id>').description('cancel a pending, queued or running run'), 'scheduler-cli run cancel 42').action(async (id: string) => {
    const value = await ctx.client().post<Row>(resourcePath('task-runs', id, '/cancel'));
    ctx.out().message(`run ${id} ${String(value?.status ?? 'cancelled')}`, value);
  });

  examples(run.command('retry <id>').description('run a finished run again, as a new attempt'), 'scheduler-cli run retry 42').action(async (id: string) => {
    const value = await ctx.client().post<Row>(resourcePath('task-runs', id, '/retry'));
    if (ctx.out().format === 'table') ctx.out().list([value], RUN_COLUMNS);
    else ctx.out().item(value);
  });
}
