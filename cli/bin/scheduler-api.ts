#!/usr/bin/env node
import { addServeOptions, baseProgram, serve, type ServeFlags } from '../serve.ts';
import { exitOnUsageError, SERVICE_EXIT_HELP } from '../startup-error.ts';

const program = addServeOptions(
  baseProgram('scheduler-api', 'Hourglass API: the same as scheduler --mode api, with the same config chain').exitOverride(exitOnUsageError),
  'api',
).addHelpText(
  'after',
  `
Examples:
  scheduler-api --config config/api.toml
  ENVIRONMENT=production scheduler-api --log-format json
${SERVICE_EXIT_HELP}`,
);
program.action(async (flags: ServeFlags) => serve(flags, 'api'));
await program.parseAsync();
