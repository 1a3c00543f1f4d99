#!/usr/bin/env node
import { Option, type Command } from 'commander';
import { stringify as toToml } from 'smol-toml';
import { loadConfig, redactConfig, RELAXED_ENVIRONMENTS } from '../../core/config/index.ts';
import { type Db, dropSchedulerSchema, migrate, migrationStatus } from '../../core/store/index.ts';
import { addServeOptions, baseProgram, exitWithError, serve, type ServeFlags } from '../serve.ts';
import { openDatabase } from '../open-database.ts';
import { exitOnUsageError, SERVICE_EXIT_HELP } from '../startup-error.ts';

const program = addServeOptions(
  baseProgram('scheduler', 'Hourglass: runs the API, the dispatcher and workers (all in one process by default)').exitOverride(exitOnUsageError),
).addHelpText(
  'after',
  `
Examples:
  scheduler                                   everything in one process (embedded database when DATABASE_URL is unset)
  scheduler --mode api --config config/api.toml
  scheduler --mode worker --worker-id worker-001 --pool default
  scheduler --mode operator                   Kubernetes operator for ScheduledTask/WorkerPool (config [operator])
  ENVIRONMENT=production scheduler --mode dispatcher
  scheduler migrate run                       apply database migrations and exit
  scheduler migrate info                      which migrations are applied
  scheduler config validate --file config/production.toml
  ENVIRONMENT=production scheduler config show -o toml
${SERVICE_EXIT_HELP}`,
);
program.action(async (flags: ServeFlags) => serve(flags));

const migrateCmd = program.command('migrate').description('database migrations');
/** the options and the database of a one-shot command; the database is closed after `work` */
function withDatabase(command: Command, work: (db: Db, environment: string) => Promise<void>): Command {
  return command
    .option('-c, --config <file>', 'extra TOML file (repeatable)', (v: string, p: string[]) => [...p, v], [])
    .option('--data-dir <dir>', 'embedded database folder', 'data')
    .addOption(new Option('--log-level <level>', 'debug shows the stack of an error').choices(['trace', 'debug', 'info', 'warn', 'error', 'fatal']))
    .action(async (flags: { config: string[]; dataDir: string; logLevel?: string }) => {
      const { db, environment } = await openDatabase(flags).catch((e: unknown) => exitWithError(e, flags.logLevel));
      try {
        await work(db, environment);
      } catch (error) {
        await db.close().catch(() => undefined);
        exitWithError(error, flags.logLevel);
      }
      await db.close();
    });
}

withDatabase(migrateCmd.command('run').description('apply pending migrations (under an advisory lock) and exit'), async (db) => {
  const applied = await migrate(db);
  process.stdout.write(applied.length ? `applied migrations: ${applied.join(', ')}\n` : 'database is up to date\n');
});
withDatabase(migrateCmd.command('reset').description('DEVELOPMENT ONLY: drop every scheduler table, then migrate from scratch'), async (db, environment) => {
  if (!RELAXED_ENVIRONMENTS.includes(environment)) {
    throw new Error(`migrate reset deletes every task and run: refused in environment "${environment}" (allowed in: ${RELAXED_ENVIRONMENTS.join(', ')})`);
  }
  const dropped = await dropSchedulerSchema(db);
  const applied = await migrate(db);
  process.stdout.write(`dropped ${dropped.length} objects; applied migrations: ${applied.join(', ')}\n`);
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
  .option('-f, --file <file>', 'a TOML file to validate on top of the chain (repeatable)', (v: string, p: string[]) => [...p, v], [])
  .option('-c, --config <file>', 'the same as --file', (v: string, p: string[]) => [...p, v], [])
  .addHelpText('after', `
Reads config/base.toml, the overlays, config/$ENVIRONMENT.toml, each --file and the environment variables,
exactly as the services do. Exit 0 with a one-line summary, or exit 1 listing every problem (key and file).

Examples:
  scheduler config validate --file config/production.toml
  ENVIRONMENT=production DATABASE_URL=postgresql://db/scheduler scheduler config validate`)
  .action((flags: { file: string[]; config: string[] }) => {
    const files = [...flags.file, ...flags.config];
    try {
      const { config, sources, warnings } = loadConfig({ extraFiles: files });
      for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
      process.stdout.write(`ok: environment ${config.environment}, ${sources.length} sources (${sources.join(', ')}), queue ${config.embedded ? 'postgres (embedded)' : config.message_queue.type}, ${warnings.length} warnings\n`);
    } catch (error) {
      const problems = (error as { problems?: Array<{ path: string; message: string }> }).problems;
      if (!problems) exitWithError(error);
      process.stderr.write(`invalid configuration: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n`);
      for (const p of problems) process.stderr.write(`  ${p.path || '(file)'}: ${p.message}\n`);
      process.exit(1);
    }
  });
configCmd
  .command('show')
  .description('print the effective configuration, secrets redacted')
  .option('-c, --config <file>', 'extra TOML file (repeatable)', (v: string, p: string[]) => [...p, v], [])
  .addOption(new Option('-o, --output <format>', 'output format').choices(['toml', 'json']).default('toml'))
  .addHelpText('after', `
Examples:
  scheduler config show
  ENVIRONMENT=production scheduler config show -c config/api.toml -o json | jq .api`)
  .action((flags: { config: string[]; output: 'toml' | 'json' }) => {
    try {
      const redacted = redactConfig(loadConfig({ extraFiles: flags.config }).config);
      process.stdout.write(flags.output === 'json' ? `${JSON.stringify(redacted, null, 2)}\n` : toToml(redacted));
    } catch (error) {
      exitWithError(error);
    }
  });

await program.parseAsync();
