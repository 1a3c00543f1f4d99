import { Option, type Command } from 'commander';
import { taskInputFromManifest, parseManifest, ValidationError } from '../../core/model/index.ts';
import { ApiError } from '../api-client.ts';
import { CliError, EXIT } from '../exit-codes.ts';
import { locate, parseDocuments, readInputs, type SourceDocument } from '../manifest-files.ts';
import { age, type Column } from '../output.ts';
import { collect, collectPages, examples, positiveInt, query, resourcePath, type CliContext } from './context.ts';
import { followLogs, nextAttempt, RUN_COLUMNS, waitForRun } from './run.ts';

type Row = Record<string, unknown>;

export const TASK_COLUMNS: Column[] = [
  'name', 'type', 'schedule', 'suspend', 'pool', 'nextScheduleTime',
  { header: 'LAST', value: (t) => (t.lastRun as Row | null)?.status },
  { header: 'AGE', value: (t) => age(t.createdAt) },
];
const TASK_FIELDS = [
  'id', 'name', 'namespace', 'source', 'type', 'schedule', 'timeZone', 'suspend', 'pool', 'priority', 'concurrencyPolicy', 'catchUp',
  'timeoutSeconds', 'retry', 'dependsOn', 'shards', 'labels', 'shell', 'http', 'params', 'nextScheduleTime', 'lastRun', 'createdAt', 'updatedAt', 'warnings',
];

/** The API's warnings about a task it accepted (a dependsOn naming no task, a schedule that never fires), on stderr. */
export function printWarnings(resource: string, view: Row | undefined): void {
  for (const warning of Array.isArray(view?.warnings) ? (view.warnings as string[]) : []) process.stderr.write(`warning: ${resource}: ${warning}\n`);
}

const namespaceOption = () => new Option('-n, --namespace <ns>', 'namespace of a task created from Kubernetes');

/** The REST body of a task file: a plain task (as POST /api/tasks takes it) or a ScheduledTask manifest. */
export function taskBodyFrom(source: SourceDocument): Row {
  const value = source.value as Row;
  if (value && typeof value === 'object' && 'apiVersion' in value && 'kind' in value) {
    try {
      const manifest = parseManifest(value);
      if (manifest.kind !== 'ScheduledTask') throw new CliError(`${source.file}: a ${manifest.kind} is not a task; use scheduler-cli apply -f`);
      return taskInputFromManifest(manifest);
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      throw new CliError(`invalid manifest:\n  ${error.problems.map((p) => `${locate(source, p.path)}: ${p.path}: ${p.message}`).join('\n  ')}`);
    }
  }
  return value;
}

/** Points the API's field problems at the lines of the file they came from. */
export function withLines(error: unknown, source: SourceDocument, prefix = ''): never {
  if (error instanceof ApiError && error.status === 400 && error.problems.length > 0) {
    const lines = error.problems.map((p) => {
      const field = prefix && p.path ? `${prefix}.${p.path}` : p.path;
      return `${locate(source, field)}: ${p.path || '(body)'}: ${p.message}`;
    });
    throw new CliError(`the API refused ${source.file}:\n  ${lines.join('\n  ')}`);
  }
  throw error;
}

export function registerTaskCommands(program: Command, ctx: CliContext): void {
  const task = examples(
    program.command('task').description('list, create, run and inspect tasks'),
    'scheduler-cli task list --type shell --label team=data',
    'scheduler-cli task create -f task.yaml',
    'scheduler-cli task trigger nightly-report',
  );

  examples(
    task
      .command('list')
      .description('list tasks')
      .option('--type <type>', 'only tasks of this executor type (shell, http, ...)')
      .option('--pool <pool>', 'only tasks of this worker pool')
      .addOption(new Option('--suspended <bool>', 'only suspended (true) or active (false) tasks').choices(['true', 'false']))
      .option('--name <text>', 'only tasks whose name contains this')
      .option('-l, --label <key=value>', 'only tasks with this label (repeatable)', collect, [])
      .option('--limit <n>', 'at most this many tasks', positiveInt, 100),
    'scheduler-cli task list',
    'scheduler-cli task list --suspended true -o json',
    'scheduler-cli task list -l team=data -l tier=gold --limit 500',
  ).action(async (flags: { type?: string; pool?: string; suspended?: string; name?: string; label: string[]; limit: number }) => {
    const path = `/api/tasks${query({ type: flags.type, pool: flags.pool, suspended: flags.suspended, name: flags.name, label: flags.label, limit: Math.min(flags.limit, 500) })}`;
    const tasks = await collectPages<Row>(ctx.client(), path, flags.limit);
    // a task that cannot run as written says so in the list, rather than looking like an on-demand one
    ctx.out().list(tasks, tasks.some((t) => Array.isArray(t.warnings)) ? [...TASK_COLUMNS, 'warnings'] : TASK_COLUMNS);
  });

  examples(
    task.command('get <name>').description('show one task (by name or id)').addOption(namespaceOption()),
    'scheduler-cli task get nightly-report',
    'scheduler-cli task get nightly-report -o yaml',
  ).action(async (name: string, flags: { namespace?: string }) => {
    ctx.out().item(await ctx.client().get(resourcePath('tasks', name, '', flags.namespace)), TASK_FIELDS);
  });

  examples(
    task
      .command('create')
      .description('create a task from a YAML or JSON file: a task body as POST /api/tasks takes it, or a ScheduledTask manifest')
      .requiredOption('-f, --file <file>', 'the task file (- for stdin)'),
    'scheduler-cli task create -f task.yaml',
    'cat task.json | scheduler-cli task create -f -',
  ).action(async (flags: { file: string }) => {
    const [input] = readInputs([flags.file]);
    const documents = parseDocuments(input!.file, input!.text);
    if (documents.length !== 1) throw new CliError(`${input!.file}: expected one task, found ${documents.length} documents (use scheduler-cli apply -f for several)`);
    const source = documents[0]!;
    const body = taskBodyFrom(source);
    const isManifest = body !== source.value;
    const created = await ctx.client().post<Row>('/api/tasks', body).catch((error: unknown) => withLines(error, source, isManifest ? 'spec' : ''));
    ctx.out().message(`task ${String(created.name)} created (id ${String(created.id)})`, created);
    printWarnings(`task/${String(created.name)}`, created);
  });

  examples(
    task.command('delete <name>').description('delete a task; its run history is kept').addOption(namespaceOption()),
    'scheduler-cli task delete nightly-report',
  ).action(async (name: string, flags: { namespace?: string }) => {
    await ctx.client().delete(resourcePath('tasks', name, '', flags.namespace));
    ctx.out().message(`task ${name} deleted`, { name, deleted: true });
  });

  examples(
    task
      .command('trigger <name>')
      .description('run a task now (a manual run, whatever its schedule or suspension)')
      .option('--wait', 'wait for the run to finish, through its retries; exit 7 unless the final attempt succeeded')
      .option('--follow', 'stream the run\'s log until it finishes, through its retries; exit 7 unless the final attempt succeeded')
      .addOption(namespaceOption()),
    'scheduler-cli task trigger nightly-report',
    'scheduler-cli task trigger nightly-report --follow          # in CI: the log, and the exit code of the run',
    'scheduler-cli task trigger nightly-report --wait -o json | jq .status',
  ).action(async (name: string, flags: { namespace?: string; wait?: boolean; follow?: boolean }) => {
    let run = await ctx.client().post<Row>(resourcePath('tasks', name, '/trigger', flags.namespace));
    const out = ctx.out();
    if (flags.follow) process.stderr.write(`run ${String(run.id)} of ${name} triggered\n`);
    // --wait and --follow go on through the task's retries: the exit code is that of the final attempt
    while (flags.wait || flags.follow) {
      if (flags.follow) await followLogs(ctx, String(run.id));
      run = await waitForRun(ctx, String(run.id));
      const next = await nextAttempt(ctx, run);
      if (!next) break;
      process.stderr.write(`run ${String(run.id)} (attempt ${String(run.attempt)}) ${String(run.status)}; following its retry: run ${String(next.id)} (attempt ${String(next.attempt)})\n`);
      run = next;
    }
    if (flags.follow) process.stderr.write(`run ${String(run.id)} ${String(run.status)}\n`);
    else if (out.format === 'table') out.list([run], RUN_COLUMNS);
    else out.item(run);
    if ((flags.wait || flags.follow) && run.status !== 'succeeded') process.exitCode = EXIT.runFailed;
  });

  for (const [verb, text] of [['suspend', 'stop scheduled fires (manual triggers still run)'], ['resume', 'let scheduled fires run again']] as const) {
    examples(task.command(`${verb} <name>`).description(text).addOption(namespaceOption()), `scheduler-cli task ${verb} nightly-report`).action(
      async (name: string, flags: { namespace?: string }) => {
        const updated = await ctx.client().post<Row>(resourcePath('tasks', name, `/${verb}`, flags.namespace));
        ctx.out().message(`task ${name} ${verb === 'suspend' ? 'suspended' : 'resumed'}`, updated);
      },
    );
  }

  examples(
    task
      .command('history <name>')
      .description("the task's runs, newest first")
      .option('--status <status>', 'only runs in this status')
      .option('--limit <n>', 'how many', positiveInt, 20)
      .addOption(namespaceOption()),
    'scheduler-cli task history nightly-report',
    'scheduler-cli task history nightly-report --status failed --limit 5 -o json',
  ).action(async (name: string, flags: { status?: string; limit: number; namespace?: string }) => {
    const path = `${resourcePath('tasks', name, '/runs')}${query({ status: flags.status, limit: Math.min(flags.limit, 500), namespace: flags.namespace })}`;
    ctx.out().list(await collectPages<Row>(ctx.client(), path, flags.limit), RUN_COLUMNS);
  });

  examples(
    task
      .command('stats <name>')
      .description('success rate, durations and run counts of a task over the last days')
      .option('--days <n>', 'the window, in days', positiveInt, 7)
      .addOption(namespaceOption()),
    'scheduler-cli task stats nightly-report',
    'scheduler-cli task stats nightly-report --days 30 -o json',
  ).action(async (name: string, flags: { days: number; namespace?: string }) => {
    ctx.out().item(await ctx.client().get(`${resourcePath('tasks', name, '/stats')}${query({ days: flags.days, namespace: flags.namespace })}`));
  });
}
