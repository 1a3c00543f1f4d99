#!/usr/bin/env node
import { addServeOptions, baseProgram, serve, type ServeFlags } from '../serve.ts';

const program = addServeOptions(baseProgram('scheduler-worker', 'Hourglass: the same as scheduler --mode worker').addHelpText('after', '\nExample:\n  scheduler-worker --worker-id worker-001 --pool default'), 'worker');
program.action(async (flags: ServeFlags) => serve(flags, 'worker'));
await program.parseAsync();
