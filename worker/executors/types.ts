import type { RunMessage } from '../../core/queue/port.ts';

export interface ExecutionContext {
  runId: string;
  attempt: number;
  taskName: string;
  shard: number;
  shardTotal: number;
  scheduledTime: string;
  /** the run's timeout, for messages only: the worker enforces it through `signal` */
  timeoutMs: number;
  /**
   * Aborted when the run must stop: its reason says why (`stopReason`). The worker owns every deadline
   * (timeout, cancel, shutdown) and combines them into this one signal; executors only react to it.
   */
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
  /**
   * false when running the attempt again cannot help (a spec the executor cannot run, a type no executor
   * has, a task this worker refuses): the core then does not retry it. Unset: retried as the task allows.
   */
  retryable?: boolean;
}

export interface Executor {
  readonly type: string;
  /** never throws for a task's own failure; it returns a failed result with the reason */
  execute(spec: RunMessage['spec'], ctx: ExecutionContext): Promise<ExecutionResult>;
}

/** Why the worker stopped a run: the reason of ExecutionContext.signal. */
export class RunStop extends Error {
  readonly kind: 'timed_out' | 'cancelled' | 'shutdown';
  constructor(kind: 'timed_out' | 'cancelled' | 'shutdown', message: string) {
    super(message);
    this.name = 'RunStop';
    this.kind = kind;
  }
}

/**
 * How an executor reports an aborted run: `timed_out` for the worker's deadline, `cancelled` otherwise
 * (a cancel, or a shutdown, which the worker itself turns into a retryable failure).
 */
export function stopOutcome(signal: AbortSignal): { status: 'timed_out' | 'cancelled'; error: string } {
  const reason: unknown = signal.reason;
  if (reason instanceof RunStop) return { status: reason.kind === 'timed_out' ? 'timed_out' : 'cancelled', error: reason.message };
  if (reason instanceof DOMException && reason.name === 'TimeoutError') return { status: 'timed_out', error: 'timed out' };
  return { status: 'cancelled', error: 'cancelled' };
}
