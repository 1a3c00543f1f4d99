import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { API_GROUP, API_VERSION_NAME } from '../../core/model/resource.ts';
import { type KubeClients, type KubeObject } from '../../operator/kube.ts';
import { Reflector, type ReflectorEvent } from '../../operator/reflector.ts';
import { waitFor } from '../support/processes.ts';
import type { KubeApiServer } from '../support/kube/server.ts';
import { startScheduledTaskApi, type ScheduledTaskApi } from '../support/kube/scheduled-task-api.ts';

const PATH = `/apis/${API_GROUP}/${API_VERSION_NAME}/namespaces/default/scheduledtasks`;

describe('reflector (list + watch) against the in-memory API server', () => {
  let kube: KubeApiServer;
  let clients: KubeClients;
  let api: ScheduledTaskApi;
  const reflectors: Reflector[] = [];

  before(async () => {
    api = await startScheduledTaskApi('hg-reflector-');
    ({ kube, clients } = api);
  });
  after(async () => {
    await Promise.all(reflectors.map((r) => r.stop()));
    await api?.close();
  });

  const create = (name: string) =>
    clients.custom.createNamespacedCustomObject({
      group: API_GROUP, version: API_VERSION_NAME, namespace: 'default', plural: 'scheduledtasks',
      body: { apiVersion: `${API_GROUP}/${API_VERSION_NAME}`, kind: 'ScheduledTask', metadata: { name }, spec: { type: 'noop' } },
    }) as Promise<KubeObject>;
  const realList = async () => {
    const list = (await clients.custom.listNamespacedCustomObject({ group: API_GROUP, version: API_VERSION_NAME, namespace: 'default', plural: 'scheduledtasks' })) as { items: KubeObject[]; metadata: { resourceVersion: string } };
    return { items: list.items, resourceVersion: list.metadata.resourceVersion };
  };
  const start = (list: () => Promise<{ items: KubeObject[]; resourceVersion: string }>) => {
    const seen: Array<[ReflectorEvent, string]> = [];
    const restarts: string[] = [];
    const reflector = new Reflector({
      name: 'test', path: PATH, list, config: clients.config, resyncMs: 60_000, backoffMinMs: 50, backoffMaxMs: 200,
      logger: pino({ level: 'silent' }),
      onChange: (type, object) => seen.push([type, object.metadata.name]),
      onRestart: (reason) => restarts.push(reason),
    });
    reflectors.push(reflector);
    reflector.start();
    return { reflector, seen, restarts };
  };

  it('relists when its resourceVersion expired (410 Gone) and ends up with every object', async () => {
    const first = await create('before-expiry');
    await create('at-expiry');
    kube.expireHistory();
    await create('after-expiry');
    let calls = 0;
    // the first list is stale (as from a lagging cache): watching from it must answer 410
    const { reflector, restarts } = start(async () => (++calls === 1 ? { items: [first], resourceVersion: first.metadata.resourceVersion as string } : realList()));
    await waitFor(() => reflector.cache.has('default/after-expiry'), 10_000, 50, 'the object created after the expiry');
    assert.ok(restarts.includes('gone'), `restarts: ${restarts.join(', ')}`);
    assert.ok(calls >= 2, 'listed again');
    assert.ok(reflector.cache.has('default/before-expiry'));
    assert.ok(reflector.cache.has('default/at-expiry'), 'what the stale list missed is found by the relist');
    await reflector.stop();
  });

  it('backs off and retries when the list fails, and reconnects after every watch is dropped', async () => {
    let calls = 0;
    const watchesBefore = kube.requestCounts().byVerb['watch'] ?? 0;
    const { reflector, seen, restarts } = start(async () => {
      if (++calls === 1) throw new Error('apiserver unavailable');
      return realList();
    });
    await waitFor(() => reflector.hasSynced, 10_000, 50, 'the first successful list');
    assert.equal(restarts[0], 'error');
    await waitFor(() => (kube.requestCounts().byVerb['watch'] ?? 0) > watchesBefore, 5000, 20, 'the watch to be opened');
    await new Promise((resolve) => setTimeout(resolve, 200)); // and its response to reach the client
    kube.dropWatches();
    await create('after-drop');
    await waitFor(() => seen.some(([, name]) => name === 'after-drop'), 10_000, 50, 'the change made after the drop');
    await waitFor(() => restarts.includes('dropped'), 5000, 20, `a watch cut mid-stream to be resumed (restarts: ${restarts.join(', ')})`);
    assert.equal(restarts.filter((r) => r === 'error').length, 1, 'no relist after the drop: only the first failed list');
    await clients.custom.deleteNamespacedCustomObject({ group: API_GROUP, version: API_VERSION_NAME, namespace: 'default', plural: 'scheduledtasks', name: 'after-drop' });
    await waitFor(() => seen.some(([type, name]) => type === 'DELETED' && name === 'after-drop'), 10_000, 50, 'the deletion');
    assert.equal(reflector.cache.has('default/after-drop'), false);
  });
});
