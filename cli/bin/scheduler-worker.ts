#!/usr/bin/env node
import { addServeOptions, baseProgram, serve, type ServeFlags } from '../serve.ts';
import { exitOnUsageError, SERVICE_EXIT_HELP } from '../startup-error.ts';

const program = addServeOptions(
  baseProgram('scheduler-worker', 'Hourglass worker: the same as scheduler --mode worker, with the same config chain').exitOverride(exitOnUsageError),
  'worker',
).addHelpText(
  'after',
  `
Examples:
  scheduler-worker --worker-id worker-001
  scheduler-worker --worker-id worker-002 --pool gpu --config config/production.toml
${SERVICE_EXIT_HELP}`,
);
program.action(async (flags: ServeFlags) => serve(flags, 'worker'));
await program.parseAsync();
