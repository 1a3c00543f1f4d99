import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFile, readdir, stat } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { ShellSpec } from '../../core/model/task.ts';
import { CappedOutput, errorMessage, parseBlock } from './common.ts';
import { RunStop, stopOutcome } from './types.ts';
import type { ExecutionContext, ExecutionResult, Executor } from './types.ts';
import type { RunMessage } from '../../core/queue/port.ts';
import { isSecretEnvName } from '../../core/config/index.ts';
import { NO_SANDBOX, prepareCommand, type PreparedCommand, type TaskSandbox } from '../isolation/sandbox.ts';

/** The only worker variables a task process starts from (when present and not secret). */
export const SAFE_BASE_ENV_NAMES = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'USER'] as const;

export interface ShellExecutorOptions {
  /** true for a variable name that must never reach a task; default isSecretEnvName (core/config) */
  secretEnvNames?: (name: string) => boolean;
  /** replaces the base taken from process.env (still filtered by secretEnvNames) */
  baseEnv?: Record<string, string>;
  /** between SIGTERM and SIGKILL of the process group on timeout or cancel; default 5000 */
  killGraceMs?: number;
  /**
   * After the process exited and its group was killed, how long to wait for stdout/stderr to close
   * before giving up on them (a process that left the group with setsid can hold them); default 2000
   */
  closeWaitMs?: number;
  /** how a task's process is kept from the worker (docs/task-isolation.md); default: none */
  sandbox?: TaskSandbox;
  /** set when this worker refuses shell tasks (isolation unavailable): each run fails with it, not retried */
  refusal?: string;
}


/** The environment of a task process: safe base, then spec.env, then the HOURGLASS_* variables. */
export function buildTaskEnv(
  specEnv: Record<string, string>,
  ctx: Pick<ExecutionContext, 'runId' | 'attempt' | 'taskName' | 'shard' | 'shardTotal' | 'scheduledTime'>,
  options: Pick<ShellExecutorOptions, 'secretEnvNames' | 'baseEnv'> = {},
): Record<string, string> {
  const isSecret = options.secretEnvNames ?? isSecretEnvName;
  const env: Record<string, string> = {};
  if (options.baseEnv) {
    for (const [name, value] of Object.entries(options.baseEnv)) if (!isSecret(name)) env[name] = value;
  } else {
    for (const name of SAFE_BASE_ENV_NAMES) {
      const value = process.env[name];
      if (value !== undefined && !isSecret(name)) env[name] = value;
    }
  }
  Object.assign(env, specEnv);
  env.HOURGLASS_RUN_ID = ctx.runId;
  env.HOURGLASS_ATTEMPT = String(ctx.attempt);
  env.HOURGLASS_TASK = ctx.taskName;
  env.HOURGLASS_SHARD_INDEX = String(ctx.shard);
  env.HOURGLASS_SHARD_TOTAL = String(ctx.shardTotal);
  env.HOURGLASS_SCHEDULED_TIME = ctx.scheduledTime;
  return env;
}

function failed(error: string, extra: Partial<ExecutionResult> = {}): ExecutionResult {
  return { status: 'failed', error, output: '', outputTruncated: false, ...extra };
}

/** a spec that cannot run here fails once: running it again cannot help */
const NOT_RETRYABLE = { retryable: false } as const;

/**
 * Sends a signal to the whole process group led by pid. Returns false when the group has no member
 * left (ESRCH); zombies not yet reaped still count as members.
 */
function killGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    // EPERM and the like: fall back to the leader alone
    try {
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  }
}

/** Members of process group pgid that still run (not zombies), from /proc; null where there is no /proc. */
async function runningGroupMembers(pgid: number): Promise<number | null> {
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return null;
  }
  let running = 0;
  await Promise.all(
    entries.map(async (entry) => {
      if (!/^\d+$/.test(entry)) return;
      try {
        const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
        // pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') running++;
      } catch {
        // exited meanwhile
      }
    }),
  );
  return running;
}

/**
 * After SIGKILL a process is dead only once the kernel finished tearing it down; its pipes close a
 * little before. Waits (bounded) until no member of the group still runs, so "resolved" means "dead".
 */
async function waitGroupDead(pgid: number, maxMs: number): Promise<void> {
  const deadline = Date.now() + maxMs;
  for (;;) {
    const running = await runningGroupMembers(pgid);
    if (running === null || running === 0 || Date.now() >= deadline) return;
    killGroup(pgid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function createShellExecutor(options: ShellExecutorOptions = {}): Executor {
  const killGraceMs = options.killGraceMs ?? 5000;
  const closeWaitMs = options.closeWaitMs ?? 2000;
  const sandbox = options.sandbox ?? NO_SANDBOX;

  async function execute(spec: RunMessage['spec'], ctx: ExecutionContext): Promise<ExecutionResult> {
    if (options.refusal !== undefined) return failed(options.refusal, NOT_RETRYABLE);
    const parsed = parseBlock(ShellSpec, 'shell', spec.shell);
    if (!parsed.ok) return failed(parsed.error, NOT_RETRYABLE);
    const shell = parsed.value;
    const [program, ...args] = shell.command as [string, ...string[]];

    if (shell.workingDir !== undefined) {
      try {
        const info = await stat(shell.workingDir);
        if (!info.isDirectory()) return failed(`shell.workingDir: ${shell.workingDir} is not a directory`);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        const reason = code === 'ENOENT' ? 'does not exist' : `cannot be used (${code ?? errorMessage(err)})`;
        return failed(`shell.workingDir: ${shell.workingDir} ${reason}`);
      }
    }
    if (ctx.signal.aborted) return { ...stopOutcome(ctx.signal), output: '', outputTruncated: false };

    let prepared: PreparedCommand;
    try {
      prepared = await prepareCommand(sandbox, program, args, shell.workingDir);
    } catch (err) {
      return failed(`cannot prepare the task's sandbox: ${errorMessage(err)}`);
    }
    // the sandbox's HOME (the run directory) unless the spec chose one
    const env = { ...buildTaskEnv({ ...prepared.env, ...shell.env }, ctx, options) };
    try {
      return await spawnAndWait(prepared, env, program, ctx);
    } finally {
      await prepared.cleanup().catch(() => {});
    }
  }

  function spawnAndWait(prepared: PreparedCommand, env: Record<string, string>, program: string, ctx: ExecutionContext): Promise<ExecutionResult> {
    return new Promise<ExecutionResult>((resolve) => {
      const output = new CappedOutput(ctx.outputLimitBytes, ctx.onOutput);
      let child: ChildProcess;
      try {
        child = spawn(prepared.file, prepared.args, {
          cwd: prepared.cwd,
          env,
          detached: true, // own process group (setsid): the whole group can be killed
          stdio: ['ignore', 'pipe', 'pipe'],
          windowsHide: true,
        });
      } catch (err) {
        resolve(failed(`cannot start ${program}: ${errorMessage(err)}`));
        return;
      }

      let settled = false;
      let stopReason: { status: 'timed_out' | 'cancelled'; error: string } | null = null;
      let exitCode: number | null = null;
      let exitSignal: NodeJS.Signals | null = null;
      let exited = false;
      let killTimer: NodeJS.Timeout | undefined;
      let closeTimer: NodeJS.Timeout | undefined;
      let groupLeftAtExit = false;
      let finishing = false;

      const cleanup = (): void => {
        clearTimeout(killTimer);
        clearTimeout(closeTimer);
        ctx.signal.removeEventListener('abort', onAbort);
      };

      const settle = (result: ExecutionResult): void => {
        if (settled) return;
        settled = true;
        cleanup();
        resolve(result);
      };

      const finish = (): void => {
        if (finishing) return;
        finishing = true;
        clearTimeout(closeTimer);
        if (groupLeftAtExit && child.pid !== undefined) {
          void waitGroupDead(child.pid, 2000).then(report, report);
        } else {
          report();
        }
      };

      const report = (): void => {
        const { output: text, outputTruncated } = output.finish();
        const base = { output: text, outputTruncated, exitCode };
        if (stopReason !== null) {
          settle({ ...base, ...stopReason });
        } else if (exitSignal !== null) {
          const number = osConstants.signals[exitSignal];
          settle({ ...base, status: 'failed', error: `killed by signal ${exitSignal}${number ? ` (${number})` : ''}` });
        } else if (exitCode === 0) {
          settle({ ...base, status: 'succeeded', error: null });
        } else if (exitCode === 127 && prepared.file !== program && /^setpriv: failed to execute /m.test(text)) {
          // in the sandbox the command is started by setpriv, which reports a missing one as exit 127
          settle({ ...base, status: 'failed', error: `command not found: ${program}` });
        } else {
          settle({ ...base, status: 'failed', error: `exited with code ${exitCode}` });
        }
      };

      let stopSent = false;
      const stop = (reason: { status: 'timed_out' | 'cancelled'; error: string } | null): void => {
        if (stopSent || exited || child.pid === undefined) return;
        stopSent = true;
        stopReason = reason;
        const pid = child.pid;
        killGroup(pid, 'SIGTERM');
        killTimer = setTimeout(() => killGroup(pid, 'SIGKILL'), killGraceMs);
      };

      function onAbort(): void {
        // A worker's shutdown asks the task to stop, and the task's own exit status is the outcome (as for a
        // Kubernetes pod): a process that had exited 0 before its 'exit' event was read, or that exits 0 on
        // SIGTERM, succeeded, and is not run again; anything else the worker reports failed and retryable.
        // A cancel or a timeout is the outcome whatever the process does.
        const reason: unknown = ctx.signal.reason;
        stop(reason instanceof RunStop && reason.kind === 'shutdown' ? null : stopOutcome(ctx.signal));
      }

      child.stdout?.on('data', (chunk: Buffer) => output.write('stdout', chunk));
      child.stderr?.on('data', (chunk: Buffer) => output.write('stderr', chunk));
      // a stdio error must not crash the worker; 'close' still follows
      child.stdout?.on('error', () => {});
      child.stderr?.on('error', () => {});

      child.on('error', (err: NodeJS.ErrnoException) => {
        // after a successful spawn an error (a failed kill) changes nothing: 'exit' and 'close' follow
        if (child.pid !== undefined) return;
        const reason =
          err.code === 'ENOENT' && prepared.file !== program
            ? `cannot start the task sandbox (${prepared.file}): not installed`
            : err.code === 'ENOENT'
            ? `command not found: ${program}`
            : err.code === 'EACCES'
              ? `permission denied: ${program}`
              : `cannot start ${program}: ${err.message}`;
        settle(failed(reason));
      });

      child.once('exit', (code, signal) => {
        exited = true;
        exitCode = code;
        exitSignal = signal;
        // the leader is gone; no member of its group may outlive the run
        if (child.pid !== undefined) groupLeftAtExit = killGroup(child.pid, 'SIGKILL');
        clearTimeout(killTimer);
        // stdio normally closes right away; a process that escaped the group could hold it open
        closeTimer = setTimeout(() => {
          child.stdout?.destroy();
          child.stderr?.destroy();
          finish();
        }, closeWaitMs);
      });

      child.once('close', () => {
        if (!exited) return; // spawn failure: handled in 'error'
        finish();
      });

      if (child.pid !== undefined) {
        if (ctx.signal.aborted) onAbort();
        else ctx.signal.addEventListener('abort', onAbort, { once: true });
      }
    });
  }

  return { type: 'shell', execute };
}
