import { execFile } from 'node:child_process';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * How a shell task's process is kept away from the worker (issue 13 item 1, docs/task-isolation.md).
 *
 * `namespace`: the command runs in a PID namespace of its own, with its own /proc, as an unprivileged
 * uid/gid with no capabilities and no_new_privs:
 *   unshare --pid --fork --mount-proc --kill-child=SIGKILL -- setpriv --reuid U --regid G ... -- command
 * - The worker and every other process of the host are not in that namespace: /proc shows only the
 *   task's own processes, so no environ, cmdline or mem of the worker can be opened, and no pid of the
 *   worker can be signalled or traced (and a different uid could not do it anyway).
 * - When the namespace's first process ends, or is killed, the kernel kills every process left in the
 *   namespace: `setsid` (a new session and group) no longer escapes the timeout.
 * - Files: the task has the rights of the task uid; the worker's secret files must not be readable by
 *   others (mode 0600), which is what the docs ask.
 * `userns` (a worker that is not root, where user namespaces are allowed): the same PID namespace and
 * /proc, entered through a user namespace in which the task is "root" mapped to the worker's own uid,
 * with every capability dropped (so it cannot unmount its /proc to see the host's). Processes and
 * timeouts are as safe as with `namespace`; files are not: the task has the worker's uid outside.
 * `none`: the command runs as a child of the worker, as the worker's user (process-group kill only).
 */
export type SandboxKind = 'namespace' | 'userns' | 'none';

export interface TaskSandbox {
  readonly kind: SandboxKind;
  /** the uid/gid a namespaced task runs as */
  readonly uid?: number;
  readonly gid?: number;
}

export const NO_SANDBOX: TaskSandbox = { kind: 'none' };

/** What to spawn instead of `program args` and where, plus what to undo once the run is over. */
export interface PreparedCommand {
  file: string;
  args: string[];
  cwd: string | undefined;
  /** variables the sandbox sets unless the spec set them (HOME of the run directory) */
  env: Record<string, string>;
  cleanup(): Promise<void>;
}

/** unshare and setpriv arguments for a command run in a PID namespace of its own, without capabilities. */
export function sandboxArgv(sandbox: TaskSandbox, program: string, args: string[]): { file: string; args: string[] } {
  if (sandbox.kind === 'userns') {
    return {
      file: 'unshare',
      args: [
        '--user', '--map-root-user', '--pid', '--fork', '--mount-proc', '--kill-child=SIGKILL', '--',
        'setpriv', '--no-new-privs', '--inh-caps=-all', '--bounding-set=-all', '--',
        program, ...args,
      ],
    };
  }
  return namespaceArgv(sandbox.uid ?? 65534, sandbox.gid ?? 65534, program, args);
}

/** unshare and setpriv arguments for a command run as uid/gid in a PID namespace of its own. */
export function namespaceArgv(uid: number, gid: number, program: string, args: string[]): { file: string; args: string[] } {
  return {
    file: 'unshare',
    args: [
      '--pid', '--fork', '--mount-proc',
      // unshare waits for the namespace's init; killed itself (SIGKILL on timeout), it takes the init along,
      // and with the init the kernel kills every process of the namespace
      '--kill-child=SIGKILL',
      '--',
      'setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--no-new-privs', '--inh-caps=-all', '--bounding-set=-all',
      '--',
      program, ...args,
    ],
  };
}

/**
 * Prepares one run. Without a workingDir a namespaced task gets a fresh directory of its own (owned by the
 * task uid, mode 0700, removed afterwards) as its cwd and HOME: the worker's own directory is not
 * the task's, and two runs do not share one.
 */
export async function prepareCommand(sandbox: TaskSandbox, program: string, args: string[], workingDir: string | undefined): Promise<PreparedCommand> {
  if (sandbox.kind === 'none') return { file: program, args, cwd: workingDir, env: {}, cleanup: async () => {} };
  const wrapped = sandboxArgv(sandbox, program, args);
  if (workingDir !== undefined) return { ...wrapped, cwd: workingDir, env: {}, cleanup: async () => {} };
  const dir = await mkdtemp(path.join(tmpdir(), 'hg-run-'));
  try {
    // userns: the task is the worker's own uid outside its namespace, the directory is already its own
    if (sandbox.kind === 'namespace') await chown(dir, sandbox.uid ?? 65534, sandbox.gid ?? 65534);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return { ...wrapped, cwd: dir, env: { HOME: dir }, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

function run(file: string, args: string[], timeoutMs: number): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } }, (error, stdout, stderr) => {
      resolve({ ok: !error, output: `${stdout}${stderr}`.trim() || (error ? error.message : '') });
    });
  });
}

/**
 * Whether namespaced tasks work here: the worker must be root (it creates the namespace, then drops to
 * the task uid) and unshare/setpriv (util-linux) must be installed and allowed (a container's seccomp
 * profile may forbid unshare). Answers the reason when they do not.
 */
export async function probeNamespaceSandbox(uid: number, gid: number): Promise<{ ok: true } | { ok: false; reason: string }> {
  if (process.platform !== 'linux') return { ok: false, reason: `PID namespaces need Linux (this is ${process.platform})` };
  const euid = process.geteuid?.() ?? -1;
  if (euid !== 0) return { ok: false, reason: `the worker runs as uid ${euid}, not root: it can neither create a PID namespace nor switch a task to another uid` };
  const { file, args } = namespaceArgv(uid, gid, 'sh', ['-c', 'test "$$" = 1 && test "$(id -u)" = "$0"', String(uid)]);
  const probe = await run(file, args, 5000);
  if (!probe.ok) return { ok: false, reason: `running a probe as \`${file} ${args.slice(0, 4).join(' ')} ... setpriv ...\` failed: ${probe.output.slice(0, 300)}` };
  return { ok: true };
}

/** Whether a user namespace sandbox works here (the kernel and any seccomp profile allow user namespaces). */
export async function probeUserNamespaceSandbox(): Promise<{ ok: true } | { ok: false; reason: string }> {
  if (process.platform !== 'linux') return { ok: false, reason: `user namespaces need Linux (this is ${process.platform})` };
  const { file, args } = sandboxArgv({ kind: 'userns' }, 'sh', ['-c', 'test "$$" = 1 && ! umount /proc 2>/dev/null']);
  const probe = await run(file, args, 5000);
  if (!probe.ok) return { ok: false, reason: `user namespaces are not available (${probe.output.slice(0, 200) || 'the probe failed'})` };
  return { ok: true };
}
