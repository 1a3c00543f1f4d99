import { NO_SANDBOX, probeNamespaceSandbox, probeUserNamespaceSandbox, type TaskSandbox } from './sandbox.ts';

export const TASK_ISOLATION_MODES = ['auto', 'namespace', 'userns', 'none'] as const;
export type TaskIsolationMode = (typeof TASK_ISOLATION_MODES)[number];

export interface TaskIsolationSettings {
  /** worker.task_isolation */
  mode: TaskIsolationMode;
  /** worker.task_uid / worker.task_gid: who a namespaced task runs as */
  uid: number;
  gid: number;
  /** the deployment environment: development, staging, production */
  environment: string;
}

/** What the worker does with shell tasks, decided once at start. */
export interface TaskIsolation {
  sandbox: TaskSandbox;
  /** set when shell tasks are refused: the reason every refused run carries */
  refusal?: string;
  /** set when shell tasks run less than fully isolated: logged loudly at start */
  warning?: string;
}

const USERNS_GAP = 'a task runs with the worker\'s own uid, so it can read every file the worker can (its secret files included)';

/**
 * - `namespace`: required; a worker that cannot isolate does not start (the error says why).
 * - `userns`: the namespace sandbox when the worker is root, else a user namespace (processes and timeouts
 *   isolated, files not); a worker that can do neither does not start.
 * - `auto` (default): the namespace sandbox when possible; otherwise shell tasks are refused in staging and
 *   production (each run fails once, not retried, with the reason), and in development run in a user
 *   namespace if possible, unisolated if not, with a loud warning either way.
 * - `none`: the operator accepts that a shell task can read the worker's secrets (warned at start).
 */
export async function resolveTaskIsolation(settings: TaskIsolationSettings): Promise<TaskIsolation> {
  if (settings.mode === 'none') {
    return {
      sandbox: NO_SANDBOX,
      warning: 'worker.task_isolation = "none": shell tasks run as the worker\'s own user and can read its environment, memory and files (its broker and database credentials included)',
    };
  }
  const probe = await probeNamespaceSandbox(settings.uid, settings.gid);
  if (probe.ok) return { sandbox: { kind: 'namespace', uid: settings.uid, gid: settings.gid } };
  const why = `shell tasks cannot be fully isolated from the worker: ${probe.reason}`;
  if (settings.mode === 'namespace') throw new Error(`worker.task_isolation = "namespace": ${why}`);
  const userns = await probeUserNamespaceSandbox();
  if (settings.mode === 'userns') {
    if (!userns.ok) throw new Error(`worker.task_isolation = "userns": ${probe.reason}, and ${userns.reason}`);
    return { sandbox: { kind: 'userns' }, warning: `shell tasks run in a user namespace: ${USERNS_GAP}` };
  }
  if (settings.environment === 'development') {
    if (userns.ok) return { sandbox: { kind: 'userns' }, warning: `${why}; in development they run in a user namespace, where ${USERNS_GAP} (staging and production refuse them)` };
    return { sandbox: NO_SANDBOX, warning: `${why}; ${userns.reason}; in development they run anyway, and can read the worker's secrets (staging and production refuse them)` };
  }
  return {
    sandbox: NO_SANDBOX,
    refusal: `shell tasks are refused on this worker (${settings.environment}): ${probe.reason}. Run the worker as root with util-linux (unshare, setpriv), or accept less with worker.task_isolation = "userns" (files readable) or "none" (docs/task-isolation.md)`,
  };
}
