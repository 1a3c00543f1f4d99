#!/usr/bin/env node
import { addServeOptions, baseProgram, serve, type ServeFlags } from '../serve.ts';
import { exitOnUsageError, SERVICE_EXIT_HELP } from '../startup-error.ts';

const program = addServeOptions(
  baseProgram('scheduler-dispatcher', 'Hourglass dispatcher (the leader schedules; every replica applies status events): the same as scheduler --mode dispatcher, with the same config chain').exitOverride(exitOnUsageError),
  'dispatcher',
).addHelpText(
  'after',
  `
Examples:
  scheduler-dispatcher --config config/dispatcher.toml
  ENVIRONMENT=production scheduler-dispatcher --log-level debug
${SERVICE_EXIT_HELP}`,
);
program.action(async (flags: ServeFlags) => serve(flags, 'dispatcher'));
await program.parseAsync();
