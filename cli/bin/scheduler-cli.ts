#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { registerApplyCommands } from '../commands/apply.ts';
import { registerCompletionCommand } from '../commands/completion.ts';
import { ApiError } from '../api-client.ts';
import { cliContext, type GlobalFlags } from '../commands/context.ts';
import { registerDataCommands } from '../commands/data.ts';
import { registerPoolCommands } from '../commands/pool.ts';
import { registerRunCommands } from '../commands/run.ts';
import { registerScheduleCommands } from '../commands/schedule.ts';
import { registerSystemCommands } from '../commands/system.ts';
import { registerTaskCommands } from '../commands/task.ts';
import { registerWorkerCommands } from '../commands/worker.ts';
import { EXIT_CODES_HELP, exitCodeOf } from '../exit-codes.ts';
import { FORMATS } from '../output.ts';
import { VERSION } from '../version.ts';

const program = new Command('scheduler-cli')
  .description('Hourglass command line: manage tasks, runs, workers and data through the REST API')
  .version(VERSION)
  .option('--api-url <url>', 'the API (env SCHEDULER_API_URL)', process.env.SCHEDULER_API_URL || 'http://127.0.0.1:8080')
  .option('--api-key <key>', 'an API key, sent as X-API-Key (env SCHEDULER_API_KEY)', process.env.SCHEDULER_API_KEY || undefined)
  .addOption(new Option('-o, --output <format>', 'output format').choices(FORMATS).default('table'))
  .showHelpAfterError('(run with --help for usage and examples)')
  // every error, usage ones included, goes through the one handler below and its exit codes
  .exitOverride()
  .configureOutput({ writeErr: (text) => process.stderr.write(text) })
  .addHelpText(
    'after',
    `
Examples:
  scheduler-cli task list
  scheduler-cli apply -f manifests/examples/ --dry-run
  scheduler-cli task trigger nightly-report
  scheduler-cli run logs 42 --follow
  scheduler-cli worker status
  scheduler-cli data cleanup --older-than 30d
  SCHEDULER_API_URL=https://scheduler.example.com SCHEDULER_API_KEY=... scheduler-cli task list -o json
${EXIT_CODES_HELP}`,
  );

// `scheduler-cli ... | head` closes the pipe early: that is the reader's choice, not an error
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

const ctx = cliContext(program);
registerTaskCommands(program, ctx);
registerApplyCommands(program, ctx, () => readFileSync(0, 'utf8'));
registerRunCommands(program, ctx);
registerWorkerCommands(program, ctx);
registerPoolCommands(program, ctx);
registerDataCommands(program, ctx);
registerScheduleCommands(program, ctx);
registerSystemCommands(program, ctx);
registerCompletionCommand(program);

try {
  await program.parseAsync();
} catch (error) {
  // commander has already printed its own usage errors and the help
  if (!(error instanceof CommanderError)) process.stderr.write(`scheduler-cli: ${(error as Error).message}\n`);
  if (error instanceof ApiError && error.status === 401 && !program.opts<GlobalFlags>().apiKey) {
    process.stderr.write('hint: pass --api-key or set SCHEDULER_API_KEY\n');
  }
  process.exitCode = exitCodeOf(error);
}
