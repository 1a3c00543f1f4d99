import { api, type Run, type Task } from '../api/client.ts';

/** The label that carries the reason of a suspension (shown on the task; removed on resume). */
export const SUSPEND_REASON_LABEL = 'hourglass.io/suspend-reason';
export const REASON_MAX = 63;

type TaskRef = Pick<Task, 'id'>;

/** Suspends with an optional reason: one merge patch, so the flag and the reason change together. */
export async function suspendTask(task: TaskRef, reason: string): Promise<Task> {
  const labels = reason.trim() ? { [SUSPEND_REASON_LABEL]: reason.trim().slice(0, REASON_MAX) } : {};
  return api.patch('/api/tasks/{id}', { params: { id: task.id }, body: { suspend: true, labels } });
}

export async function resumeTask(task: TaskRef): Promise<Task> {
  return api.patch('/api/tasks/{id}', { params: { id: task.id }, body: { suspend: false, labels: { [SUSPEND_REASON_LABEL]: null } } });
}

/** The kubectl command that changes a task mirrored from a ScheduledTask. */
export function kubectlCommand(task: Pick<Task, 'name' | 'namespace'>, change: 'edit' | 'suspend' | 'resume' = 'edit'): string {
  const target = `scheduledtask/${task.name} -n ${task.namespace ?? 'default'}`;
  if (change === 'edit') return `kubectl edit ${target}`;
  return `kubectl patch ${target} --type merge -p '{"spec":{"suspend":${change === 'suspend'}}}'`;
}

const FAILED = new Set(['failed', 'timed_out']);

/**
 * Retries every fire of a task whose latest attempt failed (the newest 500 runs): one retry per fire,
 * never a second one beside an attempt still active. The API's refusals are returned, not thrown.
 */
export async function retryFailedRuns(taskId: string): Promise<{ retried: number; refused: unknown[] }> {
  const { items } = await api.get('/api/task-runs', { query: { task: taskId, limit: 500 } });
  const latest = new Map<string, Run>();
  for (const run of items) {
    const fire = `${run.scheduledTime}/${run.shard}`;
    const seen = latest.get(fire);
    if (!seen || run.attempt > seen.attempt) latest.set(fire, run);
  }
  let retried = 0;
  const refused: unknown[] = [];
  for (const run of latest.values()) {
    if (!FAILED.has(run.status)) continue;
    try {
      await api.post('/api/task-runs/{id}/retry', { params: { id: run.id } });
      retried += 1;
    } catch (error) {
      refused.push(error);
    }
  }
  return { retried, refused };
}
