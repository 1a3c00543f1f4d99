#!/usr/bin/env node
import { addServeOptions, baseProgram, serve, type ServeFlags } from '../serve.ts';

const program = addServeOptions(baseProgram('scheduler-dispatcher', 'Hourglass: the same as scheduler --mode dispatcher'), 'dispatcher');
program.action(async (flags: ServeFlags) => serve(flags, 'dispatcher'));
await program.parseAsync();
