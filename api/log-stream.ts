import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CoreContext } from '../core/dispatch/context.ts';
import { TERMINAL_STATUSES, type Run } from '../core/model/index.ts';
import { runLogs, runStatus } from '../core/store/index.ts';
import type { StreamSlots } from './stream-slots.ts';

const POLL_MS = 500;
const KEEPALIVE_MS = 15_000;
const BATCH = 500;

/**
 * Server-sent events of a run's log chunks until the run is finished. Chunks reach Postgres in batches
 * (the status writer), so the stream polls the log table by sequence number: one indexed range read per
 * tick, nothing when the client has gone.
 */
export async function followLogs(core: CoreContext, run: Run, afterSeq: number, request: FastifyRequest, reply: FastifyReply, slots: StreamSlots): Promise<FastifyReply> {
  // before the stream starts: a refusal is still an ordinary 429 problem
  const release = slots.acquire(request);
  // the headers hooks already set (CORS, security headers) go out with the stream too
  const headers = reply.getHeaders() as Record<string, string | number | string[]>;
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    ...headers,
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  // the client learns at once that the stream is open, not at the first chunk or keep-alive
  res.flushHeaders();
  let closed = false;
  // the response's close: the client went away (or the stream ended); the request's own close fires once it was read
  res.on('close', () => (closed = true));
  const send = (event: string, data: unknown, id?: number) => {
    if (!closed) res.write(`${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  let seq = afterSeq;
  let lastWrite = Date.now();
  try {
    for (;;) {
      const status = await runStatus(core.db, run.id);
      // read the chunks after the status: a run seen finished has all its chunks stored already
      for (;;) {
        const chunks = await runLogs(core.db, run.id, { afterSeq: seq, limit: BATCH });
        for (const chunk of chunks) {
          send('log', chunk, chunk.seq);
          seq = chunk.seq;
          lastWrite = Date.now();
        }
        if (chunks.length < BATCH || closed) break;
      }
      if (closed) break;
      if (!status || TERMINAL_STATUSES.has(status)) {
        send('end', { runId: run.id, status: status ?? 'unknown' });
        break;
      }
      if (Date.now() - lastWrite > KEEPALIVE_MS) {
        res.write(': keep-alive\n\n');
        lastWrite = Date.now();
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  } catch (error) {
    request.log.warn({ err: (error as Error).message, runId: run.id }, 'log stream ended by an error');
    send('error', { code: 'HG_ERR_INTERNAL', detail: 'the log stream failed; reconnect with the last event id as ?after=' });
  } finally {
    release();
    res.end();
  }
  return reply;
}
