import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildCrd } from '../../../operator/crds.ts';
import { loadKubeClients, type KubeClients } from '../../../operator/kube.ts';
import { startKubeApiServer, type KubeApiServer } from './server.ts';

export interface ScheduledTaskApi {
  kube: KubeApiServer;
  /** the operator's clients, from a kubeconfig written for the server */
  clients: KubeClients;
  /** the kubeconfig written for the server (more clients may load it) */
  kubeconfig: string;
  /** closes the clients and the server and removes the kubeconfig */
  close(): Promise<void>;
}

/** The in-memory API server with the ScheduledTask CRD installed, and the operator's clients for it. */
export async function startScheduledTaskApi(prefix: string): Promise<ScheduledTaskApi> {
  const kube = await startKubeApiServer({ log: () => undefined });
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  const kubeconfig = path.join(dir, 'kubeconfig');
  kube.writeKubeconfig(kubeconfig, 'default');
  const clients = loadKubeClients(kubeconfig);
  const response = await fetch(`${kube.url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(buildCrd('ScheduledTask')),
  });
  assert.equal(response.status, 201, await response.text());
  return {
    kube,
    clients,
    kubeconfig,
    async close() {
      clients.close();
      await kube.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
