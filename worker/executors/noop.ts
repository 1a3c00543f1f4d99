import { formatSeconds } from './common.ts';
import type { ExecutionContext, ExecutionResult, Executor } from './types.ts';
import type { RunMessage } from '../../core/queue/port.ts';

/**
 * Does nothing, for benchmarks and tests. params: `sleepMs` (simulated work, honours timeout and
 * cancel), `fail` (true or an error message: the run fails), `output` (text returned as output).
 */
export function createNoopExecutor(): Executor {
  async function execute(spec: RunMessage['spec'], ctx: ExecutionContext): Promise<ExecutionResult> {
    const params = spec.params ?? {};
    const { sleepMs, fail, output } = params;
    if (sleepMs !== undefined && (typeof sleepMs !== 'number' || !Number.isFinite(sleepMs) || sleepMs < 0)) {
      return { status: 'failed', error: 'params.sleepMs: must be a non-negative number', output: '', outputTruncated: false };
    }
    if (fail !== undefined && typeof fail !== 'boolean' && typeof fail !== 'string') {
      return { status: 'failed', error: 'params.fail: must be a boolean or a message', output: '', outputTruncated: false };
    }
    if (output !== undefined && typeof output !== 'string') {
      return { status: 'failed', error: 'params.output: must be a string', output: '', outputTruncated: false };
    }
    if (ctx.signal.aborted) return { status: 'cancelled', error: 'cancelled before start', output: '', outputTruncated: false };

    if (sleepMs !== undefined && sleepMs > 0) {
      const outcome = await new Promise<'done' | 'timed_out' | 'cancelled'>((resolve) => {
        const finish = (value: 'done' | 'timed_out' | 'cancelled'): void => {
          clearTimeout(work);
          clearTimeout(limit);
          ctx.signal.removeEventListener('abort', onAbort);
          resolve(value);
        };
        const onAbort = (): void => finish('cancelled');
        const work = setTimeout(() => finish('done'), Math.min(sleepMs, 2 ** 31 - 1));
        const limit = setTimeout(() => finish('timed_out'), Math.min(Math.max(0, ctx.timeoutMs), 2 ** 31 - 1));
        ctx.signal.addEventListener('abort', onAbort, { once: true });
      });
      if (outcome === 'cancelled') return { status: 'cancelled', error: 'cancelled', output: '', outputTruncated: false };
      if (outcome === 'timed_out') {
        return { status: 'timed_out', error: `timed out after ${formatSeconds(ctx.timeoutMs)}`, output: '', outputTruncated: false };
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
