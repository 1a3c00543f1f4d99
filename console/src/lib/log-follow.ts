import { authHeaders } from '../api/client.ts';

export interface LogChunk {
  seq: number;
  attempt: number;
  stream: 'stdout' | 'stderr';
  chunk: string;
  at: string;
}

/**
 * Follows a run's logs over the API's server-sent events (GET …/logs?follow=true). Read with fetch
 * rather than EventSource, so the request carries the Authorization header when auth is on.
 */
export async function followLogs(runId: string, after: number, onChunk: (chunk: LogChunk) => void, onEnd: (status: string) => void, signal: AbortSignal): Promise<void> {
  const response = await fetch(`/api/task-runs/${encodeURIComponent(runId)}/logs?follow=true&after=${after}`, { headers: { ...(await authHeaders()), accept: 'text/event-stream' }, signal, mode: 'same-origin' });
  if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      let data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data += line.slice(6);
      }
      if (!data) continue;
      if (event === 'log') onChunk(JSON.parse(data) as LogChunk);
      else if (event === 'end') {
        onEnd((JSON.parse(data) as { status: string }).status);
        return;
      }
    }
  }
}
