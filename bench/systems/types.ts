/**
 * What every benchmarked system offers a scenario. One instance lives in one child process for one
 * repetition, on its own fresh database or key prefix, and is torn down at the end.
 */

/** what one job does: nothing, `true` in a shell, or a GET against a local HTTP server */
export type JobKind = 'noop' | 'shell' | 'http';

/** called when a job's code starts: its key and the time it was meant to run (schedules), in ms */
export type StartHook = (key: string, intendedMs: number | undefined) => void;

/** the spread scenario's shape: `tasks` job names (task ids) round-robin over `pools` pools (queues) */
export interface Spread {
  tasks: number;
  pools: number;
}

export interface BenchSystem {
  readonly name: string;
  /** the knobs used, as printed with the results */
  readonly config: Record<string, string | number | boolean>;
  setup(): Promise<void>;
  /** enqueues `count` jobs in bulk; durable when it resolves */
  submit(count: number, kind: JobKind): Promise<void>;
  /** one worker at this concurrency; `onStart` sees every job start */
  startWorker(concurrency: number, onStart?: StartHook): Promise<void>;
  /** resolves once `count` outcomes are durable (counted since setup) */
  waitCompleted(count: number, timeoutMs: number): Promise<void>;
  /** one on-demand job identified by `key`, durable when it resolves */
  trigger(key: string): Promise<void>;
  /** `count` recurring schedules every `everyMs`; undefined when the system cannot schedule that often */
  schedule?(count: number, everyMs: number): Promise<void>;
  /** spread: creates the tasks / queues (not timed) */
  prepareSpread(spread: Spread): Promise<void>;
  /** spread: `count` no-op jobs in bulk, job i of task i % tasks (in that task's pool); durable when it resolves */
  submitSpread(count: number): Promise<void>;
  /** spread: `workers` workers of `concurrency` slots each, together covering every pool (see each system for how) */
  startSpreadWorkers(workers: number, concurrency: number): Promise<void>;
  /** the Postgres database it works in, if any (for the CPU its backends spend) */
  readonly database?: string;
  teardown(): Promise<void>;
}

export const SYSTEMS = ['hourglass/postgres', 'hourglass/redis_stream', 'hourglass/rabbitmq', 'bullmq', 'pg-boss', 'graphile-worker'] as const;
export type SystemName = (typeof SYSTEMS)[number];
