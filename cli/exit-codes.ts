import { CommanderError } from 'commander';
import { ValidationError } from '../core/model/index.ts';
import { ApiError } from './api-client.ts';

/** scheduler-cli exit codes; documented in docs/cli.md and in `scheduler-cli --help`. */
export const EXIT = {
  ok: 0,
  /** the request was refused (invalid input, server error) or the command failed */
  error: 1,
  /** bad command line: unknown command or option, missing argument */
  usage: 2,
  notFound: 3,
  /** no API key, a wrong one, or one without the permission */
  unauthorized: 4,
  /** no answer from the API (connection refused, DNS, timeout) */
  unreachable: 5,
  /** the change conflicts with what is stored (duplicate name, a task Kubernetes owns) */
  conflict: 6,
  /** `task trigger --wait/--follow`: the run ended failed, timed out or cancelled */
  runFailed: 7,
} as const;

export const EXIT_CODES_HELP = `
Exit codes:
  0  success                3  not found                5  API unreachable
  1  error / refused        4  unauthorized/forbidden   6  conflict
  2  usage error            7  task trigger --wait/--follow: the run did not succeed`;

/** A failure the command found itself (a local file, a preview), with the exit code it deserves. */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number = EXIT.error) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

export function exitCodeOf(error: unknown): number {
  if (error instanceof CliError) return error.exitCode;
  if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
  if (error instanceof ApiError) {
    if (error.status === 0) return EXIT.unreachable;
    if (error.status === 401 || error.status === 403) return EXIT.unauthorized;
    if (error.status === 404) return EXIT.notFound;
    if (error.status === 409) return EXIT.conflict;
    return EXIT.error;
  }
  if (error instanceof ValidationError) return EXIT.error;
  return EXIT.error;
}
