import { systemClock, type Clock } from '../../core/clock/index.ts';
import { stopOutcome } from './types.ts';
import type { ExecutionContext, ExecutionResult, Executor } from './types.ts';
import type { RunMessage } from '../../core/queue/port.ts';

/**
 * Does nothing, for benchmarks and tests. params: `sleepMs` (simulated work, honours timeout and
 * cancel), `fail` (true or an error message: the run fails), `output` (text returned as output).
 */
export function createNoopExecutor(options: { clock?: Clock } = {}): Executor {
  const clock = options.clock ?? systemClock;
  async function execute(spec: RunMessage['spec'], ctx: ExecutionContext): Promise<ExecutionResult> {
    const params = spec.params ?? {};
    const { sleepMs, fail, output } = params;
    if (sleepMs !== undefined && (typeof sleepMs !== 'number' || !Number.isFinite(sleepMs) || sleepMs < 0)) {
      return { status: 'failed', error: 'params.sleepMs: must be a non-negative number', output: '', outputTruncated: false, retryable: false };
    }
    if (fail !== undefined && typeof fail !== 'boolean' && typeof fail !== 'string') {
      return { status: 'failed', error: 'params.fail: must be a boolean or a message', output: '', outputTruncated: false, retryable: false };
    }
    if (output !== undefined && typeof output !== 'string') {
      return { status: 'failed', error: 'params.output: must be a string', output: '', outputTruncated: false, retryable: false };
    }
    if (ctx.signal.aborted) return { ...stopOutcome(ctx.signal), output: '', outputTruncated: false };

    if (sleepMs !== undefined && sleepMs > 0) {
      try {
        await clock.sleep(Math.min(sleepMs, 2 ** 31 - 1), ctx.signal);
      } catch {
        // the worker stopped the run (timeout, cancel, shutdown): the signal's reason says which
        return { ...stopOutcome(ctx.signal), output: '', outputTruncated: false };
      }
    }

    const text = output ?? '';
    if (text) ctx.onOutput?.('stdout', text);
    if (fail === true || (typeof fail === 'string' && fail !== '')) {
      return { status: 'failed', error: typeof fail === 'string' ? fail : 'failed as asked (params.fail)', output: text, outputTruncated: false };
    }
    return { status: 'succeeded', error: null, output: text, outputTruncated: false };
  }

  return { type: 'noop', execute };
}
