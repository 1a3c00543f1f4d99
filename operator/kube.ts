import { createHash } from 'node:crypto';
import {
  ApiException, AppsV1Api, CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, NetworkingV1Api, PatchStrategy, setHeaderOptions, Observable, type ConfigurationOptions, type RequestContext,
} from '@kubernetes/client-node';

/** The API clients the operator uses, all from one kubeconfig. */
export interface KubeClients {
  config: KubeConfig;
  custom: CustomObjectsApi;
  apps: AppsV1Api;
  core: CoreV1Api;
  coordination: CoordinationV1Api;
  networking: NetworkingV1Api;
  /**
   * A merge patch of a custom object's status subresource, like custom.patchNamespacedCustomObjectStatus with
   * MERGE_PATCH (same authentication, connections, deadline and close(); failures are the same ApiException),
   * without the generated client's layers: the one write per ScheduledTask of a sync, where those layers
   * cost more CPU than the rest of the reconcile.
   */
  patchStatus(target: { group: string; version: string; namespace: string; plural: string; name: string }, status: unknown): Promise<KubeObject>;
  /**
   * Aborts every request in flight (watches included) and fails every later one at once: what a leader
   * that steps down does to the clients of its leadership term, so nothing it started can still act.
   */
  close(): void;
}

/** A request that got no response within this long fails (watches have their own inactivity timeout). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

/**
 * A kubeconfig file when one is given (tests, running outside a cluster), else the default chain:
 * $KUBECONFIG, ~/.kube/config, then the in-cluster service account.
 */
export function loadKubeClients(kubeconfigFile: string, requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS): KubeClients {
  const config = new KubeConfig();
  if (kubeconfigFile) config.loadFromFile(kubeconfigFile);
  else config.loadFromDefault();
  // client-node refuses a plain-http server unless TLS verification is "skipped"; there is no TLS to verify
  // there (the in-memory API server of `npm run kube:memory`, kubectl proxy), so say so for such clusters
  config.clusters = config.clusters.map((cluster) => (cluster.server.startsWith('http://') ? { ...cluster, skipTLSVerify: true } : cluster));
  const close = reuseConnections(config, requestTimeoutMs);
  const custom = config.makeApiClient(CustomObjectsApi);
  return {
    config,
    close,
    patchStatus: async ({ group, version, namespace, plural, name }, status) => {
      const body = { status };
      const path = `/apis/${encodeURIComponent(group)}/${encodeURIComponent(version)}/namespaces/${encodeURIComponent(namespace)}/${encodeURIComponent(plural)}/${encodeURIComponent(name)}/status`;
      const sent = await sendJson(config, 'PATCH', path, PatchStrategy.MergePatch, body);
      // no dispatcher of our own (an https cluster without any TLS option): the generated client's way
      return sent ?? (await custom.patchNamespacedCustomObjectStatus({ group, version, namespace, plural, name, body }, MERGE_PATCH) as KubeObject);
    },
    custom,
    apps: config.makeApiClient(AppsV1Api),
    core: config.makeApiClient(CoreV1Api),
    coordination: config.makeApiClient(CoordinationV1Api),
    networking: config.makeApiClient(NetworkingV1Api),
  };
}

interface RequestDispatcher {
  request(options: { origin: string; path: string; method: string; headers: Record<string, string>; body: string }): Promise<{
    statusCode: number;
    headers: Record<string, string | string[] | undefined>;
    body: { text(): Promise<string> };
  }>;
}

/**
 * One JSON request the way a generated client method sends it (kubeconfig authentication through
 * applySecurityAuthentication, so tokens, exec plugins and client certificates are applied per request,
 * and the dispatcher of reuseConnections, with its deadline), but through undici's request API instead of
 * fetch, its web streams and the ObjectSerializer. Undefined when the kubeconfig gives no dispatcher.
 */
async function sendJson(config: KubeConfig, method: string, path: string, contentType: string, body: unknown): Promise<KubeObject | undefined> {
  const headers: Record<string, string> = { accept: 'application/json, */*;q=0.8', 'content-type': contentType };
  let dispatcher: RequestDispatcher | undefined;
  const context = {
    setHeaderParam: (key: string, value: string) => (headers[key.toLowerCase()] = value),
    setDispatcher: (value: unknown) => (dispatcher = value as RequestDispatcher),
  };
  await config.applySecurityAuthentication(context as unknown as RequestContext);
  if (!dispatcher) return undefined;
  const server = new URL(config.getCurrentCluster()?.server ?? '');
  const response = await dispatcher.request({ origin: server.origin, path: `${server.pathname.replace(/\/$/, '')}${path}`, method, headers, body: JSON.stringify(body) });
  const text = await response.body.text();
  const responseHeaders: Record<string, string> = {};
  for (const [key, value] of Object.entries(response.headers)) if (value !== undefined) responseHeaders[key] = Array.isArray(value) ? value.join(', ') : value;
  if (response.statusCode === 401) throw new ApiException(401, 'Unauthorized', undefined, responseHeaders);
  if (response.statusCode < 200 || response.statusCode > 299) throw new ApiException(response.statusCode, 'Unknown API Status Code!', text, responseHeaders);
  return JSON.parse(text) as KubeObject;
}

type Dispatch = (options: { body?: unknown; path?: string; headersTimeout?: number; bodyTimeout?: number }, handler: unknown) => boolean;
interface Dispatcher {
  close(): Promise<void>;
  destroy(): Promise<void>;
  compose(...interceptors: ((dispatch: Dispatch) => Dispatch)[]): Dispatcher;
}
type DispatcherFactory = (cluster: unknown, agentOptions: object) => Dispatcher | undefined;

/**
 * fetch hands every request body to undici as an async iterable, which is written to the socket apart from
 * the headers (two writes, so two wake-ups of the API server, per request); a body gathered first is
 * written with the headers in one. Bodies here are small JSON documents (patches, Leases, Events).
 */
function bufferBodies(dispatch: Dispatch): Dispatch {
  return (options, handler) => {
    const body = options.body;
    if (typeof body !== 'object' || body === null || !(Symbol.asyncIterator in body)) return dispatch(options, handler);
    (async () => {
      const parts: Buffer[] = [];
      for await (const part of body as AsyncIterable<Uint8Array | string>) parts.push(typeof part === 'string' ? Buffer.from(part) : Buffer.from(part.buffer, part.byteOffset, part.byteLength));
      return Buffer.concat(parts);
    })().then(
      (buffer) => dispatch({ ...options, body: buffer }, handler),
      // undici reports the failure through the handler as it would have without this
      () => dispatch(options, handler),
    );
    return true;
  };
}

/**
 * Every request but a watch gets a deadline: its response headers and each later chunk of its body must
 * come within timeoutMs, else it fails (UND_ERR_HEADERS_TIMEOUT / UND_ERR_BODY_TIMEOUT). Without this a
 * call over a connection that stopped forwarding (a partition that sends no RST) hangs for as long as the
 * kernel keeps the socket, minutes. A watch is kept alive by client-node's own inactivity timeout.
 */
function withDeadline(timeoutMs: number) {
  return (dispatch: Dispatch): Dispatch => (options, handler) => {
    if (/[?&]watch=(true|1)\b/.test(options.path ?? '')) return dispatch(options, handler);
    return dispatch({ ...options, headersTimeout: timeoutMs, bodyTimeout: timeoutMs }, handler);
  };
}

/**
 * client-node 2.x builds a new undici Agent for every request (applySecurityAuthentication ->
 * createDispatcher), so every call opened a TCP (and TLS) connection of its own and left the agent behind.
 * One agent per distinct set of connection options is kept instead, so requests reuse kept-alive
 * connections; options that change (a rotated client certificate re-read from its file) get a new agent
 * and the old one is closed once its requests (watches included) have ended.
 */
function reuseConnections(config: KubeConfig, requestTimeoutMs: number): () => void {
  const target = config as unknown as { createDispatcher: DispatcherFactory };
  const create = target.createDispatcher.bind(config);
  let current: { key: string; dispatcher: ReturnType<DispatcherFactory> } | undefined;
  let closed = false;
  target.createDispatcher = (cluster, agentOptions) => {
    // once closed, every request goes to the destroyed dispatcher and fails at once (ClientDestroyedError)
    if (closed) return current?.dispatcher;
    const key = createHash('sha1').update(JSON.stringify(config.createDispatcherOptions(cluster as never, agentOptions))).digest('base64');
    if (current?.key === key) return current.dispatcher;
    const previous = current?.dispatcher;
    current = { key, dispatcher: create(cluster, agentOptions)?.compose(bufferBodies, withDeadline(requestTimeoutMs)) };
    previous?.close().catch(() => undefined);
    return current.dispatcher;
  };
  return () => {
    closed = true;
    current?.dispatcher?.destroy().catch(() => undefined);
  };
}

/**
 * Per-call options for a generated API method: the call is aborted when signal fires (a Lease call bounded
 * by the time left before the renew deadline, shorter than the request timeout).
 */
export function abortableBy(signal: AbortSignal): ConfigurationOptions {
  return {
    middleware: [{
      pre: (context) => {
        context.setSignal(signal);
        return new Observable(Promise.resolve(context));
      },
      post: (response) => new Observable(Promise.resolve(response)),
    }],
    middlewareMergeStrategy: 'append',
  };
}

/** client-node 2.x sends JSON patch unless told otherwise; every patch here is a merge patch. */
export const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** The HTTP status of a failed API call (ApiException.code, or statusCode from Watch), if it has one. */
export function httpStatus(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as { code?: unknown; statusCode?: unknown };
  if (typeof e.code === 'number') return e.code;
  if (typeof e.statusCode === 'number') return e.statusCode;
  return undefined;
}

export const isNotFound = (error: unknown): boolean => httpStatus(error) === 404;
export const isConflict = (error: unknown): boolean => httpStatus(error) === 409;

/** A short description of an API error for logs and conditions (the apiserver's message when it sent one). */
export function describeKubeError(error: unknown): string {
  const e = error as { body?: unknown; message?: string };
  if (typeof e?.body === 'string') {
    try {
      const status = JSON.parse(e.body) as { message?: string };
      if (status.message) return status.message;
    } catch {
      // not a Status object
    }
  }
  if (typeof e?.body === 'object' && e.body !== null && typeof (e.body as { message?: unknown }).message === 'string') return (e.body as { message: string }).message;
  return e?.message ?? String(error);
}

/** The minimal shape of any object read from the API. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
    deletionTimestamp?: string;
    creationTimestamp?: string;
  };
  spec?: unknown;
  status?: unknown;
}

export const objectKey = (object: { metadata: { name: string; namespace?: string } }): string => `${object.metadata.namespace ?? ''}/${object.metadata.name}`;

export function splitKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf('/');
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}
