import { api, type Task } from '../api/client.ts';

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
