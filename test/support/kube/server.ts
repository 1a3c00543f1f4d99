import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ApiState } from './api-state.ts';
import { nowTimestamp } from './api-state.ts';
import { renderKubeconfig } from './kubeconfig.ts';
import { installGarbageCollector } from './lifecycle.ts';
import { ResourceRegistry } from './registry.ts';
import type { Verb } from './resource-call.ts';
import { route } from './router.ts';
import { Storage } from './storage.ts';
import type { OpenWatch } from './watch-stream.ts';

/**
 * An in-memory Kubernetes API server over real HTTP, for tests and local play: kubectl and
 * @kubernetes/client-node talk to it as to a cluster. It stores and watches objects; it runs no
 * controllers beyond garbage collection, namespace termination and CRD establishment, and no pods.
 * See docs/kube-memory.md.
 */
export interface KubeApiServer {
  /** http://127.0.0.1:PORT */
  url: string;
  /** Kubeconfig YAML: cluster 'hourglass-memory' at url, a dummy token, that context current. */
  kubeconfig(namespace?: string): string;
  writeKubeconfig(file: string, namespace?: string): void;
  /** Ends every open watch stream abruptly; clients must reconnect. */
  dropWatches(): void;
  /** From now on, watching from a resourceVersion older than the current one answers 410 Gone. */
  expireHistory(): void;
  /**
   * verb = get|list|watch|create|update|patch|delete, all present from the start (deletecollection counts as
   * delete); byResource is keyed "verb resource[/subresource]" (e.g. "patch scheduledtasks/status").
   */
  requestCounts(): RequestCounts;
  close(): Promise<void>;
}

export interface RequestCounts {
  total: number;
  byVerb: Record<string, number>;
  byResource: Record<string, number>;
}

export interface KubeApiServerOptions {
  port?: number;
  host?: string;
  /** How often watches that asked for bookmarks get one (default 5000 ms). */
  bookmarkIntervalMs?: number;
  /** Where oddities go (CEL rules outside the subset, internal errors); default: stderr. */
  log?: (line: string) => void;
  /** Namespaces that exist from the start (default: default, kube-system, kube-public, kube-node-lease). */
  namespaces?: string[];
}

const DEFAULT_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

function seedNamespaces(state: ApiState, names: string[]): void {
  for (const name of names) {
    state.storage.commit('/namespaces', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name, uid: crypto.randomUUID(), creationTimestamp: nowTimestamp(), labels: { 'kubernetes.io/metadata.name': name } },
      spec: { finalizers: ['kubernetes'] },
      status: { phase: 'Active' },
    }, undefined);
  }
}

export async function startKubeApiServer(options: KubeApiServerOptions = {}): Promise<KubeApiServer> {
  const host = options.host ?? '127.0.0.1';
  const state: ApiState = {
    registry: new ResourceRegistry(),
    storage: new Storage(),
    log: options.log ?? ((line) => process.stderr.write(`[kube-memory] ${line}\n`)),
    bookmarkIntervalMs: options.bookmarkIntervalMs ?? 5000,
  };
  installGarbageCollector(state);
  seedNamespaces(state, options.namespaces ?? DEFAULT_NAMESPACES);
  const counts: Record<string, number> = { get: 0, list: 0, watch: 0, create: 0, update: 0, patch: 0, delete: 0 };
  const byResource: Record<string, number> = {};
  let total = 0;
  const watches = new Set<OpenWatch>();
  const hooks = {
    countRequest(verb: Verb, resource: string) {
      total++;
      counts[verb] = (counts[verb] ?? 0) + 1;
      byResource[`${verb} ${resource}`] = (byResource[`${verb} ${resource}`] ?? 0) + 1;
    },
    registerWatch(watch: OpenWatch) {
      watches.add(watch);
      return () => watches.delete(watch);
    },
  };
  const server = createServer({ keepAliveTimeout: 60_000 }, (request, response) => {
    void route(state, hooks, request, response);
  });
  server.headersTimeout = 0;
  server.requestTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    url,
    kubeconfig: (namespace) => renderKubeconfig(url, namespace),
    writeKubeconfig: (file, namespace) => writeFileSync(file, renderKubeconfig(url, namespace), { mode: 0o600 }),
    dropWatches() {
      for (const watch of [...watches]) watch.destroy();
    },
    expireHistory: () => state.storage.expireHistory(),
    requestCounts: () => ({ total, byVerb: { ...counts }, byResource: { ...byResource } }),
    async close() {
      for (const watch of [...watches]) watch.destroy();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
