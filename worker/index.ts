import type { Logger } from 'pino';
import type { Config } from '../core/config/index.ts';
import { isSecretEnvName } from '../core/config/index.ts';
import { defaultRegistry, type ExecutorRegistry } from './executors/index.ts';
import { resolveTaskIsolation } from './isolation/policy.ts';

export { Worker, SHUTDOWN_REASON } from './worker.ts';
export type { WorkerOptions } from './worker.ts';
export { resolveTaskIsolation, TASK_ISOLATION_MODES } from './isolation/policy.ts';
export type { TaskIsolation, TaskIsolationMode, TaskIsolationSettings } from './isolation/policy.ts';

/**
 * The executors of a worker process, as its configuration says: the task types it accepts, shell tasks
 * isolated from the worker (or refused, or run with a warning: worker.task_isolation), http tasks held to
 * worker.http_egress. Throws when worker.task_isolation = "namespace" cannot be honoured.
 */
export async function buildWorkerRegistry(config: Config, logger: Logger): Promise<ExecutorRegistry> {
  const types = config.worker.supported_task_types;
  const shell: NonNullable<Parameters<typeof defaultRegistry>[0]>['shell'] = { secretEnvNames: isSecretEnvName };
  if (types.includes('shell')) {
    const isolation = await resolveTaskIsolation({
      mode: config.worker.task_isolation,
      uid: config.worker.task_uid,
      gid: config.worker.task_gid,
      environment: config.environment,
    });
    shell.sandbox = isolation.sandbox;
    shell.refusal = isolation.refusal;
    if (isolation.refusal) logger.error({ taskIsolation: config.worker.task_isolation }, isolation.refusal);
    else if (isolation.warning) logger.warn({ taskIsolation: config.worker.task_isolation }, `UNISOLATED SHELL TASKS: ${isolation.warning}`);
    else logger.info({ uid: config.worker.task_uid, gid: config.worker.task_gid }, 'shell tasks run in a PID namespace of their own as an unprivileged user');
  }
  return defaultRegistry({ shell, http: { egress: config.worker.http_egress } }).only(types);
}
