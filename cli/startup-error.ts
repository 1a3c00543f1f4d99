import { ValidationError } from '../core/model/index.ts';

/** What made a service unable to start; each has its own exit code so supervisors and scripts can tell. */
export type StartupComponent = 'config' | 'database' | 'broker';

/** `scheduler` exit codes; documented in docs/cli.md and in `scheduler --help`. */
export const SERVICE_EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  config: 3,
  database: 4,
  broker: 5,
} as const;

export const SERVICE_EXIT_HELP = `
Exit codes:
  0  stopped cleanly (SIGTERM / SIGINT)   3  configuration invalid
  1  unexpected error                     4  database unreachable or unusable
  2  usage error                          5  message broker unreachable`;

export class StartupError extends Error {
  readonly component: StartupComponent;
  constructor(component: StartupComponent, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StartupError';
    this.component = component;
  }
}

/** Runs one phase of startup; what it throws is reported as that component's failure, after `prefix`. */
export async function phase<T>(component: StartupComponent, work: () => Promise<T> | T, prefix = ''): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof StartupError) throw error;
    throw new StartupError(component, `${prefix}${readable((error as Error).message)}`, { cause: error });
  }
}

/** Client libraries' wording, said in the operator's terms (ioredis names its option, not the cause). */
function readable(message: string): string {
  if (/max retries per request/i.test(message)) return 'not reachable: no connection could be made (the Redis client gave up retrying)';
  return message;
}

export function serviceExitCode(error: unknown): number {
  if (error instanceof StartupError) return SERVICE_EXIT[error.component];
  // the config chain is read before anything else: its ValidationError is a config problem
  if (error instanceof ValidationError) return SERVICE_EXIT.config;
  return SERVICE_EXIT.error;
}

export const brokerProblem = (kind: string, address?: string) => `cannot use the message broker (${kind}${address ? ` at ${address}` : ''}): `;

/** For commander's exitOverride: help and --version exit 0, a bad command line exits 2 (usage). */
export function exitOnUsageError(error: { exitCode: number }): never {
  process.exit(error.exitCode === 0 ? SERVICE_EXIT.ok : SERVICE_EXIT.usage);
}
