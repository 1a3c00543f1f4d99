import { badRequest } from './errors.ts';
import { sendJson, sendRaw } from './http-io.ts';
import type { StoredObject } from './object-store.ts';
import { apiVersion, matcher, renderer, requireSubresource, respondObject, scope, tableInclusion, writeRequest } from './resource-call.ts';
import type { ResourceCall } from './resource-call.ts';
import { storeKeyOf } from './resource-type.ts';
import { toScale } from './scale.ts';
import { renderTable } from './tables.ts';
import { serveWatch } from './watch-stream.ts';
import { requireExisting } from './write-pipeline.ts';

/** get, list (selectors, pagination, tables) and watch. */

export function handleGet(call: ResourceCall): void {
  const request = writeRequest(call);
  const target = requireSubresource(call);
  const existing = requireExisting(request, scope(call), call.path.name as string);
  if (target === 'scale') {
    sendJson(call.response, 200, toScale(existing, call.resolved.version.scale!));
    return;
  }
  respondObject(call, 200, existing.object);
}

interface ContinueToken { key: string; rv: number }

function decodeContinue(token: string | null): ContinueToken | undefined {
  if (!token) return undefined;
  try {
    const decoded = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as ContinueToken;
    if (typeof decoded.key === 'string') return decoded;
  } catch {
    // fall through to the real server's message
  }
  throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
}

export function handleList(call: ResourceCall): void {
  const storage = call.state.storage;
  const matches = matcher(call);
  const limit = Number(call.query.get('limit') ?? 0);
  const after = decodeContinue(call.query.get('continue'));
  const candidates = storage.objects(storeKeyOf(call.resolved.type)).list(scope(call) || undefined, after?.key);
  const items: StoredObject[] = [];
  let remaining = 0;
  for (const stored of candidates) {
    if (!matches(stored.object)) continue;
    if (limit > 0 && items.length >= limit) remaining++;
    else items.push(stored);
  }
  const resourceVersion = String(after?.rv ?? storage.revision);
  const last = items[items.length - 1];
  const more = remaining > 0 && last !== undefined;
  const metadata = {
    resourceVersion,
    ...(more ? { continue: Buffer.from(JSON.stringify({ key: last.key, rv: Number(resourceVersion) })).toString('base64url'), remainingItemCount: remaining } : {}),
  };
  const include = tableInclusion(call);
  if (include) {
    sendJson(call.response, 200, renderTable(items.map((stored) => stored.object), { version: call.resolved.version, include, listMeta: metadata }));
    return;
  }
  const render = renderer(call);
  const head = JSON.stringify({ kind: call.resolved.type.listKind, apiVersion: apiVersion(call), metadata }).slice(0, -1);
  sendRaw(call.response, 200, `${head},"items":[${items.map(render).join(',')}]}`);
}

export function handleWatch(call: ResourceCall): void {
  const timeout = call.query.get('timeoutSeconds');
  serveWatch(call.state, call.response, {
    resolved: call.resolved,
    namespace: scope(call),
    matches: matcher(call),
    resourceVersion: call.query.get('resourceVersion'),
    allowBookmarks: call.query.get('allowWatchBookmarks') === 'true',
    sendInitialEvents: call.query.get('sendInitialEvents') === 'true',
    timeoutSeconds: timeout ? Number(timeout) : undefined,
    table: tableInclusion(call),
    render: renderer(call),
  }, call.registerWatch);
}

