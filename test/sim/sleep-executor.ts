import type { Clock } from '../../core/clock/index.ts';
import type { RunMessage } from '../../core/queue/port.ts';
import { stopOutcome, type ExecutionContext, type ExecutionResult, type Executor } from '../../worker/executors/types.ts';

/** One execution of an attempt as the simulated world saw it happen. */
export interface Execution {
  runId: string;
  attempt: number;
  taskName: string;
  trigger?: string;
  workerOwner: string;
  startMs: number;
  endMs?: number;
  status?: ExecutionResult['status'];
  /** the worker process died while this ran */
  crashed?: boolean;
}

/**
 * The simulated work: sleeps `params.ms` virtual milliseconds unless the worker's signal stops it first,
 * and fails when `params.failUnder` exceeds the attempt's fate (a hash of seed, run and attempt in [0, 1)),
 * so an attempt's outcome is decided by the seed, not by the order things happened in.
 */
export function createSleepExecutor(clock: Clock, fate: (runId: string, attempt: number) => number): Executor {
  async function execute(spec: RunMessage['spec'], ctx: ExecutionContext): Promise<ExecutionResult> {
    const params = spec.params ?? {};
    const ms = typeof params.ms === 'number' ? params.ms : 0;
    const failUnder = typeof params.failUnder === 'number' ? params.failUnder : 0;
    // like every real executor, it only reacts to the worker's signal: the worker owns the timeout, and the
    // signal's reason says whether this was a timeout, a cancel or a shutdown
    try {
      if (ms > 0) await clock.sleep(ms, ctx.signal);
    } catch {
      return { ...stopOutcome(ctx.signal), output: '', outputTruncated: false };
    }
    if (fate(ctx.runId, ctx.attempt) < failUnder) return { status: 'failed', error: 'failed by fate', output: '', outputTruncated: false };
    return { status: 'succeeded', error: null, output: '', outputTruncated: false };
  }
  return { type: 'sleep', execute };
}

/** Wraps an executor so that every execution lands in the world's log. */
export function recording(executor: Executor, owner: string, now: () => number, log: Execution[], live: Map<string, Execution>): Executor {
  return {
    type: executor.type,
    async execute(spec, ctx) {
      const execution: Execution = { runId: ctx.runId, attempt: ctx.attempt, taskName: ctx.taskName, workerOwner: owner, startMs: now() };
      log.push(execution);
      live.set(`${owner}:${ctx.runId}/${ctx.attempt}`, execution);
      const result = await executor.execute(spec, ctx);
      execution.endMs = now();
      execution.status = result.status;
      live.delete(`${owner}:${ctx.runId}/${ctx.attempt}`);
      return result;
    },
  };
}
