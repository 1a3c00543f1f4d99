#!/usr/bin/env node
import type { Command } from 'commander';
import { loadConfig, redactConfig } from '../../core/config/index.ts';
import type { Db } from '../../core/store/db.ts';
import { migrate, migrationStatus } from '../../core/store/migrate.ts';
import { addServeOptions, baseProgram, exitWithError, serve, type ServeFlags } from '../serve.ts';
import { openDatabase } from '../open-database.ts';

const program = addServeOptions(
  baseProgram('scheduler', 'Hourglass: runs the API, the dispatcher and workers (all in one process by default)'),
).addHelpText(
  'after',
  `
Examples:
  scheduler                                   everything in one process (embedded database when DATABASE_URL is unset)
  scheduler --mode api --config config/api.toml
  scheduler --mode worker --worker-id worker-001 --pool default
  ENVIRONMENT=production scheduler --mode dispatcher
  scheduler migrate run                       apply database migrations and exit
  scheduler config validate --file config/production.toml`,
);
program.action(async (flags: ServeFlags) => serve(flags));

const migrateCmd = program.command('migrate').description('database migrations');
/** the options and the database of a one-shot command; the database is closed after `work` */
function withDatabase(command: Command, work: (db: Db) => Promise<void>): Command {
  return command
    .option('-c, --config <file>', 'extra TOML file (repeatable)', (v: string, p: string[]) => [...p, v], [])
    .option('--data-dir <dir>', 'embedded database folder', 'data')
    .action(async (flags: { config: string[]; dataDir: string }) => {
      const db = await openDatabase(flags).catch((e: unknown) => exitWithError(e));
      try {
        await work(db);
      } catch (error) {
        exitWithError(error);
      } finally {
        await db.close();
      }
    });
}

withDatabase(migrateCmd.command('run').description('apply pending migrations (under an advisory lock) and exit'), async (db) => {
  const applied = await migrate(db);
  process.stdout.write(applied.length ? `applied migrations: ${applied.join(', ')}\n` : 'database is up to date\n');
});
withDatabase(migrateCmd.command('info').description('show which migrations are applied'), async (db) => {
  for (const m of await migrationStatus(db)) {
    process.stdout.write(`${String(m.version).padStart(4, '0')}  ${m.name.padEnd(24)}  ${m.appliedAt ?? 'pending'}\n`);
  }
});

const configCmd = program.command('config').description('inspect configuration');
configCmd
  .command('validate')
  .description('check the config chain (plus --file); exit 1 with every problem, naming key and file')
  .option('-f, --file <file>', 'a TOML file to validate on top of the chain')
  .action((flags: { file?: string }) => {
    try {
      const { config, sources, warnings } = loadConfig({ extraFiles: flags.file ? [flags.file] : [] });
      for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
      process.stdout.write(`ok: environment ${config.environment}, ${sources.length} sources, queue ${config.embedded ? 'postgres (embedded)' : config.message_queue.type}\n`);
    } catch (error) {
      const problems = (error as { problems?: Array<{ path: string; message: string }> }).problems;
      if (!problems) exitWithError(error);
      for (const p of problems) process.stderr.write(`${p.path}: ${p.message}\n`);
      process.exit(1);
    }
  });
configCmd
  .command('show')
  .description('print the effective configuration, secrets redacted')
  .option('-c, --config <file>', 'extra TOML file', (v: string, p: string[]) => [...p, v], [])
  .action((flags: { config: string[] }) => {
    try {
      const { config } = loadConfig({ extraFiles: flags.config });
      process.stdout.write(`${JSON.stringify(redactConfig(config), null, 2)}\n`);
    } catch (error) {
      exitWithError(error);
    }
  });

await program.parseAsync();
