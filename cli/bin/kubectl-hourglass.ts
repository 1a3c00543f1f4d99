#!/usr/bin/env node
// kubectl plugin: installed on the PATH as `kubectl-hourglass` (package.json bin), kubectl finds it and
// runs it for `kubectl hourglass ...`. See docs/kubernetes.md, "kubectl hourglass".
import { CommanderError } from 'commander';
import { pluginProgram } from '../kubectl-plugin/commands.ts';

const program = pluginProgram((text) => process.stdout.write(text));
program.exitOverride();
try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) process.exit(error.exitCode);
  process.stderr.write(`error: ${(error as Error).message}\n`);
  process.exit(1);
}
