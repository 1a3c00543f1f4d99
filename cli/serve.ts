import { Command, Option } from 'commander';
import { MODES, startScheduler, type Mode, type Running } from './runtime.ts';
import { serviceExitCode } from './startup-error.ts';
import { VERSION } from './version.ts';

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

/** Options every service binary shares; `fixedMode` is set for scheduler-api, -dispatcher and -worker. */
export function addServeOptions(command: Command, fixedMode?: Mode): Command {
  if (!fixedMode) command.addOption(new Option('-m, --mode <mode>', 'what this process runs').choices(MODES).default('all'));
  return command
    .option('-c, --config <file>', 'extra TOML file applied after config/$ENVIRONMENT.toml (repeatable)', collect, [])
    .option('--worker-id <id>', 'worker id (default: hostname-pid, or WORKER_ID)')
    .option('--pool <name>', 'pool whose queue the worker consumes (default: worker.pool)')
    .option('--data-dir <dir>', 'where the embedded database lives when no DATABASE_URL is set', 'data')
    .addOption(new Option('--log-level <level>', 'overrides observability.log_level').choices(LOG_LEVELS))
    .addOption(new Option('--log-format <format>', 'overrides observability.log_format').choices(['json', 'pretty']));
}

export interface ServeFlags {
  mode?: Mode;
  config: string[];
  workerId?: string;
  pool?: string;
  dataDir: string;
  logLevel?: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  logFormat?: 'json' | 'pretty';
}

/** Starts the services, and stops them cleanly on SIGTERM or SIGINT (a second signal exits at once). */
export async function serve(flags: ServeFlags, fixedMode?: Mode): Promise<void> {
  let running: Running;
  try {
    running = await startScheduler({
      mode: fixedMode ?? flags.mode ?? 'all',
      configFiles: flags.config,
      ...(flags.workerId ? { workerId: flags.workerId } : {}),
      ...(flags.pool ? { pool: flags.pool } : {}),
      dataDir: flags.dataDir,
      ...(flags.logLevel ? { logLevel: flags.logLevel } : {}),
      ...(flags.logFormat ? { logFormat: flags.logFormat } : {}),
    });
  } catch (error) {
    exitWithError(error, flags.logLevel);
  }
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) {
      running.logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    running.logger.info({ signal }, 'shutting down');
    running.stop().then(
      () => process.exit(0),
      (error: Error) => {
        running.logger.error({ err: error.message }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

/** One clear line and an exit code per cause (cli/startup-error.ts); the stack only with --log-level debug. */
export function exitWithError(error: unknown, logLevel?: string): never {
  const err = error as Error;
  process.stderr.write(`scheduler: ${err.message}\n`);
  if (logLevel === 'debug' || logLevel === 'trace') process.stderr.write(`${err.stack}\n`);
  process.exit(serviceExitCode(error));
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function baseProgram(name: string, description: string): Command {
  return new Command(name).description(description).version(VERSION).showHelpAfterError();
}
