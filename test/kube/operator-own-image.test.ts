import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { loadKubeClients, type KubeClients } from '../../operator/kube.ts';
import { FALLBACK_WORKER_IMAGE, ownImage } from '../../operator/own-image.ts';
import { startKubeApiServer, type KubeApiServer } from '../support/kube/server.ts';

describe('the default worker image is the operator\'s own (client-node against the in-memory API server)', () => {
  let kube: KubeApiServer;
  let clients: KubeClients;
  let dir: string;
  const logger = pino({ level: 'silent' });

  before(async () => {
    kube = await startKubeApiServer({ log: () => undefined });
    dir = mkdtempSync(path.join(tmpdir(), 'hg-own-image-'));
    kube.writeKubeconfig(path.join(dir, 'kubeconfig'));
    clients = loadKubeClients(path.join(dir, 'kubeconfig'));
    writeFileSync(path.join(dir, 'namespace'), 'default\n');
    await clients.core.createNamespacedPod({
      namespace: 'default',
      body: { metadata: { name: 'scheduler-operator-abc' }, spec: { containers: [{ name: 'sidecar', image: 'proxy:9' }, { name: 'operator', image: 'registry.example/scheduler:v0.1.0' }] } },
    });
  });
  after(async () => {
    clients?.close();
    await kube?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads the operator container\'s image from its own pod, so a tagged operator never starts :latest workers', async () => {
    assert.equal(await ownImage(clients, logger, { HOSTNAME: 'scheduler-operator-abc' }, path.join(dir, 'namespace')), 'registry.example/scheduler:v0.1.0');
  });

  it('falls back to scheduler:latest outside a cluster or when its pod cannot be read', async () => {
    assert.equal(await ownImage(clients, logger, { HOSTNAME: 'scheduler-operator-abc' }, path.join(dir, 'missing')), FALLBACK_WORKER_IMAGE);
    assert.equal(await ownImage(clients, logger, { HOSTNAME: 'no-such-pod' }, path.join(dir, 'namespace')), FALLBACK_WORKER_IMAGE);
  });
});
