import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { Registry } from 'prom-client';
import { EventRecorder, eventName } from '../../operator/event-recorder.ts';
import { loadKubeClients, type KubeClients } from '../../operator/kube.ts';
import { createOperatorMetrics } from '../../operator/metrics.ts';
import { startKubeApiServer, type KubeApiServer } from '../support/kube/server.ts';

/** Aggregated Events through client-node against the in-memory API server. */
describe('EventRecorder series', () => {
  let kube: KubeApiServer;
  let clients: KubeClients;
  let dir: string;
  const recorder = () => new EventRecorder(clients.core, pino({ level: 'silent' }), createOperatorMetrics(new Registry()), 'test');
  const object = { apiVersion: 'scheduling.hourglass.dev/v1alpha1', kind: 'ScheduledTask', metadata: { name: 'nightly', namespace: 'default', uid: 'u-1' } };
  const event = { type: 'Warning' as const, reason: 'SawCompletedJob', message: 'Saw completed run, status: Failed' };

  before(async () => {
    kube = await startKubeApiServer({ log: () => undefined });
    dir = mkdtempSync(path.join(tmpdir(), 'hg-events-'));
    kube.writeKubeconfig(path.join(dir, 'kubeconfig'));
    clients = loadKubeClients(path.join(dir, 'kubeconfig'));
  });
  after(async () => {
    clients?.close();
    await kube?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('folds repeats, even concurrent ones, into one Event whose count is every occurrence', async () => {
    const first = recorder();
    await Promise.all(Array.from({ length: 6 }, () => first.record(object, event)));
    const stored = await clients.core.readNamespacedEvent({ namespace: 'default', name: eventName(object, event) });
    assert.equal(stored.count, 6);
    const all = await clients.core.listNamespacedEvent({ namespace: 'default' });
    assert.equal(all.items.length, 1);
  });

  it('a new leader (a new recorder) continues the same Event instead of starting another', async () => {
    await recorder().record(object, event);
    const stored = await clients.core.readNamespacedEvent({ namespace: 'default', name: eventName(object, event) });
    assert.equal(stored.count, 7);
    assert.equal((await clients.core.listNamespacedEvent({ namespace: 'default' })).items.length, 1);
  });
});
