import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The process's metrics; one registry per process (tests build their own). */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    runsCreated: new Counter({ name: 'hourglass_runs_created_total', help: 'Runs created, by trigger', labelNames: ['trigger'], registers: [registry] }),
    tasksExecuted: new Counter({ name: 'tasks_executed_total', help: 'Attempts finished on this worker, by task type and status', labelNames: ['task_type', 'status'], registers: [registry] }),
    taskFailures: new Counter({ name: 'scheduler_task_failures_total', help: 'Attempts that failed or timed out on this worker', registers: [registry] }),
    executionSeconds: new Histogram({
      name: 'task_execution_duration_seconds',
      help: 'Time an attempt spent executing on this worker',
      labelNames: ['task_type'],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800],
      registers: [registry],
    }),
    isLeader: new Gauge({ name: 'hourglass_dispatcher_leader', help: '1 while this process is the dispatcher leader', registers: [registry] }),
  };
}
export type Metrics = ReturnType<typeof createMetrics>;
