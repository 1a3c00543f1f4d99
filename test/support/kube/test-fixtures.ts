import { parse } from 'yaml';
import { kubeRequest } from './raw-client.ts';
import { SAMPLE_CRD_YAML } from './sample-crd.ts';
import type { KubeApiServer } from './server.ts';

/** Set-up steps the API server's own tests share. */

export async function installSampleCrd(server: KubeApiServer): Promise<void> {
  const response = await kubeRequest(server.url, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { body: parse(SAMPLE_CRD_YAML) });
  if (response.status !== 201) throw new Error(`installing the sample CRD failed: ${JSON.stringify(response.body)}`);
}

let counter = 0;

export async function createNamespace(server: KubeApiServer, prefix = 'test'): Promise<string> {
  const name = `${prefix}-${process.pid}-${++counter}`;
  const response = await kubeRequest(server.url, 'POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } });
  if (response.status !== 201) throw new Error(`creating namespace ${name} failed: ${JSON.stringify(response.body)}`);
  return name;
}

/** Polls until `check` returns true (garbage collection and namespace termination are asynchronous). */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
