#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { parse as parseYaml } from 'yaml';
import { ApiError, apiClient } from '../api-client.ts';
import { VERSION } from '../version.ts';

type Row = Record<string, unknown>;
interface Globals {
  apiUrl: string;
  apiKey?: string;
  output: 'table' | 'json';
}

const program = new Command('scheduler-cli')
  .description('Hourglass command line: manage tasks and runs through the REST API')
  .version(VERSION)
  .option('--api-url <url>', 'the API (env SCHEDULER_API_URL)', process.env.SCHEDULER_API_URL ?? 'http://127.0.0.1:8080')
  .option('--api-key <key>', 'an API key (env SCHEDULER_API_KEY)', process.env.SCHEDULER_API_KEY)
  .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'))
  .showHelpAfterError()
  .addHelpText('after', `
Examples:
  scheduler-cli task list
  scheduler-cli task create -f task.yaml
  scheduler-cli task trigger nightly-report
  scheduler-cli task history nightly-report --limit 5 -o json
  scheduler-cli run get 42`);

const client = () => {
  const { apiUrl, apiKey } = program.opts<Globals>();
  return apiClient({ baseUrl: apiUrl, ...(apiKey ? { apiKey } : {}) });
};

function print(value: unknown, columns: string[]): void {
  if (program.opts<Globals>().output === 'json') {
    process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    return;
  }
  const rows = (Array.isArray(value) ? value : [value]) as Row[];
  const cell = (row: Row, column: string) => (row[column] === null || row[column] === undefined ? '-' : String(row[column]));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r, c).length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd();
  process.stdout.write(`${[line(columns.map((c) => c.toUpperCase())), ...rows.map((r) => line(columns.map((c) => cell(r, c))))].join('\n')}\n`);
}

const TASK_COLUMNS = ['name', 'type', 'schedule', 'suspend', 'pool', 'nextScheduleTime'];
const RUN_COLUMNS = ['id', 'taskName', 'attempt', 'trigger', 'status', 'scheduledTime', 'durationMs', 'exitCode', 'error'];
const ref = (name: string) => encodeURIComponent(name);

const task = program.command('task').description('tasks');
task.command('list').description('list tasks').option('--limit <n>', 'page size', '100')
  .action(async (flags: { limit: string }) => print((await client().get<{ items: Row[] }>(`/api/tasks?limit=${Number(flags.limit)}`)).items, TASK_COLUMNS));
task.command('get <name>').description('show one task')
  .action(async (name: string) => print(await client().get(`/api/tasks/${ref(name)}`), [...TASK_COLUMNS, 'timeZone', 'concurrencyPolicy', 'id']));
task.command('create').description('create a task from a YAML or JSON file (- for stdin)').requiredOption('-f, --file <file>', 'the task')
  .action(async (flags: { file: string }) => {
    const body = parseYaml(readFileSync(flags.file === '-' ? 0 : flags.file, 'utf8')) as unknown;
    print(await client().post('/api/tasks', body), TASK_COLUMNS);
  });
task.command('delete <name>').description('delete a task (its history is kept)')
  .action(async (name: string) => {
    await client().delete(`/api/tasks/${ref(name)}`);
    process.stdout.write(`task ${name} deleted\n`);
  });
task.command('trigger <name>').description('run a task now')
  .action(async (name: string) => print(await client().post(`/api/tasks/${ref(name)}/trigger`), RUN_COLUMNS));
task.command('history <name>').description('the task\'s runs, newest first').option('--limit <n>', 'how many', '20')
  .action(async (name: string, flags: { limit: string }) =>
    print((await client().get<{ items: Row[] }>(`/api/tasks/${ref(name)}/runs?limit=${Number(flags.limit)}`)).items, RUN_COLUMNS));

const run = program.command('run').description('runs');
run.command('get <id>').description('show one run with its output')
  .action(async (id: string) => {
    const value = await client().get<Row>(`/api/task-runs/${ref(id)}`);
    print(value, RUN_COLUMNS);
    if (program.opts<Globals>().output === 'table' && value.output) process.stdout.write(`\n${String(value.output)}`);
  });

try {
  await program.parseAsync();
} catch (error) {
  process.stderr.write(`scheduler-cli: ${(error as Error).message}\n`);
  process.exit(error instanceof ApiError && error.status === 404 ? 3 : 1);
}
