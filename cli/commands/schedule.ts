import type { Command } from 'commander';
import { compileSchedule, jitterMs, ScheduleError } from '../../core/schedule/index.ts';
import { CliError, EXIT } from '../exit-codes.ts';
import { examples, positiveInt, resourcePath, type CliContext } from './context.ts';

interface Fire {
  /** the scheduled time, as runs record it */
  time: string;
  /** the same instant on the wall clock of the schedule's zone, with its UTC offset */
  local: string;
  /** when the dispatcher hands it out, for a task with jitterSeconds */
  firesAt?: string;
}

/** "2026-03-08T03:00:00-04:00": the wall-clock time in `zone` with its offset, so DST shifts are visible. */
export function localTime(ms: number, zone: string): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'longOffset',
    }).formatToParts(new Date(ms)).map((p) => [p.type, p.value]),
  );
  const offset = parts.timeZoneName === 'GMT' ? '+00:00' : String(parts.timeZoneName).replace('GMT', '');
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}:${parts.second}${offset}`;
}

function startTime(from: string | undefined): number {
  if (from === undefined || from === 'now') return Date.now();
  const ms = Date.parse(from);
  if (Number.isNaN(ms)) throw new CliError(`--from "${from}" is not an ISO 8601 time (e.g. 2026-03-08T00:00:00Z)`, EXIT.usage);
  return ms;
}

export function registerScheduleCommands(program: Command, ctx: CliContext): void {
  const schedule = examples(
    program.command('schedule').description('work with schedule expressions locally (no API needed)'),
    'scheduler-cli schedule preview "0 2 * * *" --tz Europe/Berlin',
  );
  examples(
    schedule
      .command('preview [expression]')
      .description('the next fire times of a cron / @every expression, computed exactly as the dispatcher does (DST included)')
      .option('--tz <zone>', 'IANA time zone of the schedule', 'UTC')
      .option('--from <time>', 'list fires strictly after this ISO 8601 time (default now)')
      .option('--count <n>', 'how many fires', positiveInt, 10)
      .option('--task <name>', "preview an existing task: its schedule, zone and jitter (reads the task from the API)"),
    'scheduler-cli schedule preview "*/15 * * * *"',
    'scheduler-cli schedule preview "30 2 * * *" --tz America/New_York --from 2026-03-07T00:00:00Z --count 3',
    'scheduler-cli schedule preview "@every 90m" --count 5 -o json',
    'scheduler-cli schedule preview --task nightly-report',
  ).action(async (expression: string | undefined, flags: { tz: string; from?: string; count: number; task?: string }) => {
    let zone = flags.tz;
    let jitter: { taskId: string; seconds: number } | undefined;
    if (flags.task) {
      const task = await ctx.client().get<{ id: string; schedule?: string; timeZone: string; jitterSeconds?: number }>(resourcePath('tasks', flags.task));
      if (!task.schedule) throw new CliError(`task ${flags.task} has no schedule: it runs on demand only`);
      expression = task.schedule;
      zone = task.timeZone;
      if (task.jitterSeconds) jitter = { taskId: task.id, seconds: task.jitterSeconds };
    }
    if (!expression) throw new CliError('give a schedule expression or --task NAME', EXIT.usage);
    let compiled;
    try {
      compiled = compileSchedule(expression, zone);
    } catch (error) {
      if (error instanceof ScheduleError) throw new CliError(error.problems.map((p) => `${p.path === 'timeZone' ? '--tz' : 'expression'}: ${p.message}`).join('; '), EXIT.usage);
      throw error;
    }
    const fires: Fire[] = [];
    let after = startTime(flags.from);
    while (fires.length < flags.count) {
      const next = compiled.next(after);
      if (next === undefined) break;
      fires.push({
        time: new Date(next).toISOString(),
        local: localTime(next, zone),
        ...(jitter ? { firesAt: new Date(next + jitterMs(jitter.taskId, next, jitter.seconds)).toISOString() } : {}),
      });
      after = next;
    }
    const out = ctx.out();
    if (out.format === 'table') {
      out.raw(`${expression} in ${zone}${fires.length < flags.count ? ` (only ${fires.length} more fires)` : ''}\n`);
      out.list(fires, [{ header: '#', value: (f) => fires.indexOf(f as unknown as Fire) + 1 }, { header: 'UTC', value: (f) => f.time }, { header: 'LOCAL', value: (f) => f.local }, ...(jitter ? [{ header: 'FIRES AT', value: (f: Record<string, unknown>) => f.firesAt }] : [])]);
    } else {
      out.list(fires, []);
    }
  });
}
