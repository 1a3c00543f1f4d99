import { HttpSpec } from '../../core/model/task.ts';
import { CappedOutput, errorMessage, parseBlock } from './common.ts';
import { stopOutcome } from './types.ts';
import { EgressPolicy, type EgressSettings } from '../isolation/egress.ts';
import { EgressRefused, sendRequest } from './http-request.ts';
import type { ExecutionContext, ExecutionResult, Executor } from './types.ts';
import type { RunMessage } from '../../core/queue/port.ts';
import { redactUrl } from '../../core/config/index.ts';

export interface HttpExecutorOptions {
  /** most bytes of the response body read and kept; the lower of this and ctx.outputLimitBytes applies */
  maxResponseBytes?: number;
  /** where requests may go (worker.http_egress); unset: the defaults (no loopback, link-local or private address) */
  egress?: EgressSettings;
}

/** The headers every request carries, so a sharded run knows its share of the work. */
export function shardHeaders(ctx: Pick<ExecutionContext, 'runId' | 'attempt' | 'shard' | 'shardTotal'>): Record<string, string> {
  return {
    'X-Hourglass-Run-Id': ctx.runId,
    'X-Hourglass-Attempt': String(ctx.attempt),
    'X-Hourglass-Shard-Index': String(ctx.shard),
    'X-Hourglass-Shard-Total': String(ctx.shardTotal),
  };
}

/**
 * The spec's headers without any X-Hourglass-* one, whatever its case: fetch would merge "x-hourglass-run-id:
 * forged" with ours into "forged, <real id>", so a receiver could be told another run's id. Ours replace them.
 */
export function withoutReservedHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !/^x-hourglass-/i.test(name)));
}

/** The innermost useful reason of a fetch failure ("fetch failed" alone says nothing). */
export function describeFetchError(err: unknown): string {
  const seen = new Set<unknown>();
  let current: unknown = err;
  let best = errorMessage(err);
  while (current instanceof Error && !seen.has(current)) {
    seen.add(current);
    const e = current as Error & { code?: string; errors?: unknown[] };
    if (e.message) best = e.message;
    else if (e.code) best = e.code;
    if (Array.isArray(e.errors) && e.errors.length > 0) {
      current = e.errors[0];
      continue;
    }
    current = e.cause;
  }
  return best;
}

export function createHttpExecutor(options: HttpExecutorOptions = {}): Executor {
  // secure by default: without settings, loopback, link-local and private addresses are refused
  const egress = new EgressPolicy(options.egress ?? { allow: [], allow_private_networks: false });
  async function execute(spec: RunMessage['spec'], ctx: ExecutionContext): Promise<ExecutionResult> {
    const parsed = parseBlock(HttpSpec, 'http', spec.http);
    if (!parsed.ok) return { status: 'failed', error: parsed.error, output: '', outputTruncated: false, retryable: false };
    const http = parsed.value;
    if (http.body !== undefined && (http.method === 'GET' || http.method === 'HEAD')) {
      return { status: 'failed', error: `http.body: not allowed with method ${http.method}`, output: '', outputTruncated: false, retryable: false };
    }
    if (ctx.signal.aborted) return { ...stopOutcome(ctx.signal), output: '', outputTruncated: false };

    const limit = Math.min(ctx.outputLimitBytes, options.maxResponseBytes ?? Number.POSITIVE_INFINITY);
    const output = new CappedOutput(limit, ctx.onOutput);
    // the worker's one signal carries every deadline (timeout, cancel, shutdown); its reason says which
    const signal = ctx.signal;
    let httpStatus: number | null = null;

    const interrupted = (): ExecutionResult | null => {
      if (!signal.aborted) return null;
      const { output: text, outputTruncated } = output.finish({ totalKnown: false });
      return { ...stopOutcome(signal), httpStatus, output: text, outputTruncated };
    };

    try {
      const response = await sendRequest(http.url, {
        method: http.method,
        headers: { ...withoutReservedHeaders(http.headers), ...shardHeaders(ctx) },
        body: http.body,
        signal,
        egress,
      });
      httpStatus = response.status;
      try {
        for await (const chunk of response.body as AsyncIterable<Buffer>) {
          output.write('stdout', chunk);
          if (output.truncated) break; // the head is kept; the rest is not even downloaded
        }
      } finally {
        // releases the connection; a body read to the end destroys nothing
        response.body.destroy();
      }
      const { output: text, outputTruncated } = output.finish({ totalKnown: false });
      if (http.expectedStatus.includes(response.status)) {
        return { status: 'succeeded', error: null, httpStatus, output: text, outputTruncated };
      }
      return {
        status: 'failed',
        error: `unexpected HTTP status ${response.status} (expected ${http.expectedStatus.join(', ')})`,
        httpStatus,
        output: text,
        outputTruncated,
      };
    } catch (err) {
      const stopped = interrupted();
      if (stopped) return stopped;
      if (err instanceof EgressRefused) {
        // the policy answers the same next time: not retried
        return { status: 'failed', error: `request to ${redactUrl(http.url)} refused: ${err.message}`, httpStatus, output: '', outputTruncated: false, retryable: false };
      }
      const { output: text, outputTruncated } = output.finish({ totalKnown: false });
      // a URL may carry credentials (user:pass@, ?token=); they must not land in the run's history
      return { status: 'failed', error: `request to ${redactUrl(http.url)} failed: ${redactUrl(describeFetchError(err))}`, httpStatus, output: text, outputTruncated };
    }
  }

  return { type: 'http', execute };
}
