import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadKubeClients } from '../../operator/kube.ts';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.ts';
import { renderKubeconfig } from '../support/kube/kubeconfig.ts';
import { startKubeApiServer, type KubeApiServer } from '../support/kube/server.ts';

/** Every API call of the operator has a deadline, and closing a term's clients aborts what is in flight. */
describe('operator API calls over a connection that stops forwarding (client-node, fault proxy, in-memory API server)', () => {
  let kube: KubeApiServer;
  let proxy: FaultProxy;
  let dir: string;
  let kubeconfig: string;

  before(async () => {
    kube = await startKubeApiServer({ log: () => undefined });
    const url = new URL(kube.url);
    proxy = await startFaultProxy({ host: url.hostname, port: Number(url.port) });
    dir = mkdtempSync(path.join(tmpdir(), 'hg-deadlines-'));
    kubeconfig = path.join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, renderKubeconfig(`http://${proxy.address}`, 'default'));
  });
  after(async () => {
    await proxy?.close();
    await kube?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a call that gets no answer fails after the request timeout instead of hanging', async () => {
    const clients = loadKubeClients(kubeconfig, 1000);
    try {
      await clients.core.listNamespace();
      proxy.stall();
      const started = Date.now();
      await assert.rejects(clients.core.listNamespace(), (error: Error & { cause?: Error }) => /timeout/i.test(String(error.cause?.name ?? error.message)));
      const tookMs = Date.now() - started;
      assert.ok(tookMs >= 900 && tookMs < 5000, `failed after ${tookMs} ms (timeout 1000 ms)`);
    } finally {
      proxy.restore();
      clients.close();
    }
  });

  it('a status patch sent without the generated client has the same deadline', async () => {
    const clients = loadKubeClients(kubeconfig, 1000);
    try {
      await clients.core.listNamespace();
      proxy.stall();
      const started = Date.now();
      const target = { group: 'scheduling.hourglass.dev', version: 'v1alpha1', namespace: 'default', plural: 'scheduledtasks', name: 'x' };
      await assert.rejects(clients.patchStatus(target, { observedGeneration: 1 }), (error: Error & { code?: string }) => /timeout/i.test(`${error.name} ${error.code ?? ''} ${error.message}`));
      const tookMs = Date.now() - started;
      assert.ok(tookMs >= 900 && tookMs < 5000, `failed after ${tookMs} ms (timeout 1000 ms)`);
    } finally {
      proxy.restore();
      clients.close();
    }
  });

  it('close() aborts a call in flight at once, and later calls fail without reaching the API', async () => {
    const clients = loadKubeClients(kubeconfig, 60_000);
    await clients.core.listNamespace();
    proxy.stall();
    try {
      const pending = clients.core.listNamespace();
      const started = Date.now();
      clients.close();
      await assert.rejects(pending);
      assert.ok(Date.now() - started < 1000, 'aborted, not timed out');
      const before = kube.requestCounts().total;
      proxy.restore();
      await assert.rejects(clients.core.listNamespace());
      assert.equal(kube.requestCounts().total, before, 'nothing reached the API server after close');
    } finally {
      proxy.restore();
    }
  });
});
