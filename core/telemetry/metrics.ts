import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** What the cluster gauges show, read from Postgres when Prometheus scrapes (see observeCluster). */
export interface ClusterSnapshot {
  /** pending + queued runs per pool */
  backlog: Map<string, number>;
  /** live workers and their load in percent of their concurrency */
  workers: Array<{ id: string; load: number }>;
}

/** a scrape reuses a snapshot this young, so the three gauges cost one read of the database, not three */
const SNAPSHOT_TTL_MS = 1000;

/** The process's metrics; one registry per process (tests build their own). */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // gauges named *_total break Prometheus naming (promtool check metrics); each is the sum of the
  // per-type gauge of the same name without the suffix, which stays
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name);
  let source: (() => Promise<ClusterSnapshot>) | undefined;
  let cached: { at: number; value: Promise<ClusterSnapshot | undefined> } | undefined;
  const snapshot = (): Promise<ClusterSnapshot | undefined> => {
    if (!source) return Promise.resolve(undefined);
    if (!cached || Date.now() - cached.at > SNAPSHOT_TTL_MS) {
      // a failed read leaves the gauges empty for this scrape instead of failing the whole scrape
      cached = { at: Date.now(), value: source().catch(() => undefined) };
    }
    return cached.value;
  };
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
    scheduleLag: new Histogram({
      name: 'schedule_lag_seconds',
      help: 'Time from a run\'s scheduled fire (or manual trigger) to the start of its first attempt, observed on the worker that ran it',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'API requests by route template, method and status',
      labelNames: ['route', 'method', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers: [registry],
    }),
    queueBacklog: new Gauge({
      name: 'queue_backlog',
      help: 'Runs pending or queued, not yet started, per pool (read from Postgres at scrape time)',
      labelNames: ['pool'],
      registers: [registry],
      async collect() {
        const snap = await snapshot();
        this.reset();
        for (const [pool, n] of snap?.backlog ?? []) this.set({ pool }, n);
      },
    }),
    workersAlive: new Gauge({
      name: 'workers_alive',
      help: 'Workers whose last heartbeat is within dispatcher.worker_timeout_seconds (read from Postgres at scrape time)',
      registers: [registry],
      async collect() {
        const snap = await snapshot();
        if (snap) this.set(snap.workers.length);
      },
    }),
    workerLoad: new Gauge({
      name: 'worker_load_percentage',
      help: 'Active runs of each live worker in percent of its concurrency (read from Postgres at scrape time)',
      labelNames: ['worker_id'],
      registers: [registry],
      async collect() {
        const snap = await snapshot();
        this.reset();
        for (const worker of snap?.workers ?? []) this.set({ worker_id: worker.id }, worker.load);
      },
    }),
    isLeader: new Gauge({ name: 'hourglass_dispatcher_leader', help: '1 while this process is the dispatcher leader (reaper, retention, retries)', registers: [registry] }),
    firePartitions: new Gauge({ name: 'hourglass_dispatcher_fire_partitions', help: 'fire partitions this dispatcher holds, of 64: it fires the schedules of their tasks', registers: [registry] }),
    /** feeds queue_backlog, workers_alive and worker_load_percentage; set by the process that serves /metrics */
    observeCluster(read: () => Promise<ClusterSnapshot>): void {
      source = read;
      cached = undefined;
    },
  };
}
export type Metrics = ReturnType<typeof createMetrics>;
