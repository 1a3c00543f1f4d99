import { execFile } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from '../support/processes.ts';

export const CLI_BIN = path.join(REPO_ROOT, 'cli', 'bin', 'scheduler-cli.ts');
export const SCHEDULER_BIN = path.join(REPO_ROOT, 'cli', 'bin', 'scheduler.ts');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a binary to completion with this node; never throws on a non-zero exit (the tests assert it). */
export function runBin(script: string, args: string[], options: { env?: Record<string, string | undefined>; input?: string; cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries({ ...process.env, ...options.env })) if (value !== undefined) env[key] = value;
  delete env.NODE_TEST_CONTEXT;
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [script, ...args], { env, cwd: options.cwd ?? REPO_ROOT, timeout: options.timeoutMs ?? 60_000, maxBuffer: 32 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
  });
}

/** scheduler-cli against one API; SCHEDULER_API_* come from `env` only, never from the test's own environment. */
export function cliFor(apiUrl: string | undefined, env: Record<string, string | undefined> = {}) {
  return (args: string[], options: { input?: string; env?: Record<string, string | undefined> } = {}) =>
    runBin(CLI_BIN, args, { env: { SCHEDULER_API_URL: apiUrl, SCHEDULER_API_KEY: undefined, ...env, ...options.env }, ...(options.input !== undefined ? { input: options.input } : {}) });
}

/** The JSON a command printed; fails with the whole output when it is not JSON. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary response fields
export function json(result: CliResult): any {
  try {
    return JSON.parse(result.stdout);
  } catch {
    throw new Error(`not JSON (exit ${result.code}):\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  }
}

export const show = (result: CliResult) => `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
