#!/usr/bin/env node
import { addServeOptions, baseProgram, serve, type ServeFlags } from '../serve.ts';

const program = addServeOptions(baseProgram('scheduler-api', 'Hourglass: the same as scheduler --mode api'), 'api');
program.action(async (flags: ServeFlags) => serve(flags, 'api'));
await program.parseAsync();
