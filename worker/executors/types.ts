import type { RunMessage } from '../../core/queue/port.ts';

export interface ExecutionContext {
  runId: string;
  attempt: number;
  taskName: string;
  shard: number;
  shardTotal: number;
  scheduledTime: string;
  timeoutMs: number;
  /** aborted when the run is cancelled or the worker gives up on it */
  signal: AbortSignal;
  /** most bytes of output kept with the run; the rest is dropped with a truncation marker */
  outputLimitBytes: number;
  /** live output, for log streaming */
  onOutput?: (stream: 'stdout' | 'stderr', chunk: string) => void;
}

export interface ExecutionResult {
  status: 'succeeded' | 'failed' | 'timed_out' | 'cancelled';
  exitCode?: number | null;
  httpStatus?: number | null;
  error?: string | null;
  output: string;
  outputTruncated: boolean;
}

export interface Executor {
  readonly type: string;
  /** never throws for a task's own failure; it returns a failed result with the reason */
  execute(spec: RunMessage['spec'], ctx: ExecutionContext): Promise<ExecutionResult>;
}
