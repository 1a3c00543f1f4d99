import type { ServerResponse } from 'node:http';
import type { ApiState } from './api-state.ts';
import { badRequest, gone } from './errors.ts';
import type { StoredObject } from './object-store.ts';
import { storeKeyOf } from './resource-type.ts';
import type { Resolved } from './registry.ts';
import type { Matcher } from './selectors.ts';
import { renderTable } from './tables.ts';
import type { IncludeObject } from './tables.ts';
import type { WatchEvent, WatchEventType } from './watch-hub.ts';

/**
 * One watch connection: newline-delimited JSON events on a chunked 200 response, replayed from the
 * requested resourceVersion, then live. A version older than the retained history gets the real
 * server's answer, an ERROR event carrying a 410 Status, and the stream ends.
 */

export interface WatchRequest {
  resolved: Resolved;
  namespace: string;
  matches: Matcher;
  resourceVersion: string | null;
  allowBookmarks: boolean;
  sendInitialEvents: boolean;
  timeoutSeconds: number | undefined;
  /** Render each object as a one-row Table (kubectl get -w). */
  table: IncludeObject | undefined;
  render: (stored: StoredObject) => string;
}

export interface OpenWatch { end(): void; destroy(): void }

export function serveWatch(state: ApiState, response: ServerResponse, request: WatchRequest, register: (watch: OpenWatch) => () => void): void {
  const { resolved, namespace, matches } = request;
  const storeKey = storeKeyOf(resolved.type);
  const storage = state.storage;
  let from: number | undefined;
  if (request.resourceVersion && request.resourceVersion !== '0') {
    from = Number(request.resourceVersion);
    if (!Number.isInteger(from) || from < 0) throw badRequest(`invalid resource version: ${request.resourceVersion}`);
  }
  response.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked', 'cache-control': 'no-cache, private' });
  response.flushHeaders();
  // A client that vanished mid-write must not take the server down; 'close' cleans up.
  response.on('error', () => undefined);
  const write = (text: string) => {
    if (!response.destroyed && !response.writableEnded) response.write(text);
  };
  const apiVersion = resolved.type.group ? `${resolved.type.group}/${resolved.version.name}` : resolved.version.name;
  const inScope = (stored: StoredObject) => (!namespace || stored.namespace === namespace) && matches(stored.object);
  const line = (type: WatchEventType, stored: StoredObject): string => {
    if (request.table) {
      const table = renderTable([stored.object], { version: resolved.version, include: request.table, listMeta: { resourceVersion: String(stored.rv) } });
      return `${JSON.stringify({ type, object: table })}\n`;
    }
    return `{"type":"${type}","object":${request.render(stored)}}\n`;
  };
  const bookmark = (annotations?: Record<string, string>) => JSON.stringify({
    type: 'BOOKMARK',
    object: { kind: resolved.type.kind, apiVersion, metadata: { resourceVersion: String(storage.revision), ...(annotations ? { annotations } : {}) } },
  }) + '\n';

  if (from !== undefined && from < storage.oldestResumable(storeKey)) {
    const status = gone(`too old resource version: ${from} (${storage.oldestResumable(storeKey)})`).toStatus();
    response.end(`${JSON.stringify({ type: 'ERROR', object: status })}\n`);
    return;
  }

  const deliver = (event: WatchEvent) => {
    const now = inScope(event.current);
    const before = event.previous !== undefined && inScope(event.previous);
    if (event.type === 'DELETED') {
      if (before || now) write(line('DELETED', event.current));
    } else if (now) {
      write(line(event.type === 'MODIFIED' && !before ? 'ADDED' : event.type, event.current));
    } else if (before) {
      write(line('DELETED', event.current));
    }
  };
  // Snapshot and subscription happen in one synchronous turn, so no event falls between them.
  const unsubscribe = storage.hub(storeKey).subscribe({ onEvent: deliver });
  let chunk = '';
  if (from === undefined || request.sendInitialEvents) {
    for (const stored of storage.objects(storeKey).list(namespace || undefined)) if (inScope(stored)) chunk += line('ADDED', stored);
    if (request.sendInitialEvents && request.allowBookmarks) chunk += bookmark({ 'k8s.io/initial-events-end': 'true' });
  } else {
    for (const event of storage.hub(storeKey).since(from)) {
      const before = event.previous !== undefined && inScope(event.previous);
      const now = inScope(event.current);
      if (event.type === 'DELETED' ? before || now : now || before) {
        const type = event.type === 'DELETED' || !now ? 'DELETED' : event.type === 'MODIFIED' && !before ? 'ADDED' : event.type;
        chunk += line(type, event.current);
      }
    }
  }
  if (chunk) write(chunk);

  const timers: NodeJS.Timeout[] = [];
  if (request.allowBookmarks) timers.push(setInterval(() => write(bookmark()), state.bookmarkIntervalMs));
  if (request.timeoutSeconds !== undefined) timers.push(setTimeout(() => response.end(), request.timeoutSeconds * 1000));
  const unregister = register({ end: () => response.end(), destroy: () => response.destroy() });
  response.once('close', () => {
    unsubscribe();
    unregister();
    for (const timer of timers) clearTimeout(timer);
  });
}
