import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { SAMPLE_GROUP, SAMPLE_RESOURCE, sampleTask } from '../support/kube/sample-crd.ts';
import { startKubeApiServer } from '../support/kube/server.ts';
import type { KubeApiServer } from '../support/kube/server.ts';
import { createNamespace, eventually, installSampleCrd } from '../support/kube/test-fixtures.ts';

/** @kubernetes/client-node 2.x (what the operator uses) against the in-memory API server. */

type Task = k8s.KubernetesObject & { spec?: Record<string, unknown>; status?: Record<string, unknown> };

let server: KubeApiServer;
let config: k8s.KubeConfig;

const VERSION = 'v1alpha1';
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

describe('client-node against the in-memory API server', () => {
  before(async () => {
    server = await startKubeApiServer();
    await installSampleCrd(server);
    config = new k8s.KubeConfig();
    config.loadFromString(server.kubeconfig());
  });
  after(() => server.close());

  test('typed and custom-object APIs: namespaces, CRs with status, Deployments, Events, Leases', async () => {
    const core = config.makeApiClient(k8s.CoreV1Api);
    const custom = config.makeApiClient(k8s.CustomObjectsApi);
    const apps = config.makeApiClient(k8s.AppsV1Api);
    const coordination = config.makeApiClient(k8s.CoordinationV1Api);
    const ns = 'client-node-typed';
    await core.createNamespace({ body: { metadata: { name: ns } } });

    const created = await custom.createNamespacedCustomObject({ group: SAMPLE_GROUP, version: VERSION, namespace: ns, plural: SAMPLE_RESOURCE, body: sampleTask('typed') }) as Task;
    assert.equal(created.metadata?.generation, 1);
    const withStatus = await custom.patchNamespacedCustomObjectStatus({
      group: SAMPLE_GROUP, version: VERSION, namespace: ns, plural: SAMPLE_RESOURCE, name: 'typed',
      body: { status: { observedGeneration: 1, lastRun: { phase: 'Succeeded' } } },
    }, mergePatch) as Task;
    assert.deepEqual(withStatus.status, { observedGeneration: 1, lastRun: { phase: 'Succeeded' } });

    await assert.rejects(
      custom.getNamespacedCustomObject({ group: SAMPLE_GROUP, version: VERSION, namespace: ns, plural: SAMPLE_RESOURCE, name: 'missing' }),
      (error: k8s.ApiException<string>) => error.code === 404,
    );

    const deployment = await apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: 'workers', ownerReferences: [{ apiVersion: created.apiVersion as string, kind: created.kind as string, name: 'typed', uid: created.metadata?.uid as string, controller: true }] },
        spec: { selector: { matchLabels: { app: 'w' } }, template: { metadata: { labels: { app: 'w' } }, spec: { containers: [{ name: 'worker', image: 'hourglass:1' }] } } },
      },
    });
    assert.equal(deployment.spec?.replicas, 1);
    const scaled = await apps.patchNamespacedDeploymentScale({ name: 'workers', namespace: ns, body: { spec: { replicas: 3 } } }, mergePatch);
    assert.equal(scaled.spec?.replicas, 3);

    await core.createNamespacedEvent({
      namespace: ns,
      body: { metadata: { generateName: 'typed.' }, involvedObject: { kind: 'SampleTask', name: 'typed', namespace: ns, uid: created.metadata?.uid }, reason: 'SuccessfulCreate', message: 'Created run', type: 'Normal' },
    });
    const events = await core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=typed' });
    assert.equal(events.items.length, 1);

    const lease = await coordination.createNamespacedLease({ namespace: ns, body: { metadata: { name: 'leader' }, spec: { holderIdentity: 'a', leaseDurationSeconds: 15 } } });
    const renewed = await coordination.replaceNamespacedLease({ name: 'leader', namespace: ns, body: { ...lease, spec: { ...lease.spec, holderIdentity: 'a', renewTime: new k8s.V1MicroTime() } } });
    await assert.rejects(
      coordination.replaceNamespacedLease({ name: 'leader', namespace: ns, body: { ...lease, spec: { ...lease.spec, holderIdentity: 'b' } } }),
      (error: k8s.ApiException<string>) => error.code === 409,
    );
    assert.notEqual(renewed.metadata?.resourceVersion, lease.metadata?.resourceVersion);
  });

  test('an informer follows adds, updates and deletes, and recovers from dropped watches and 410 Gone', async () => {
    const ns = await createNamespace(server, 'informer');
    const custom = config.makeApiClient(k8s.CustomObjectsApi);
    const path = `/apis/${SAMPLE_GROUP}/${VERSION}/namespaces/${ns}/${SAMPLE_RESOURCE}`;
    const list = () => custom.listNamespacedCustomObject({ group: SAMPLE_GROUP, version: VERSION, namespace: ns, plural: SAMPLE_RESOURCE }) as Promise<k8s.KubernetesListObject<Task>>;
    const informer = k8s.makeInformer<Task>(config, path, list);
    const seen: string[] = [];
    const errors: unknown[] = [];
    informer.on('add', (object) => seen.push(`add ${object.metadata?.name}`));
    informer.on('update', (object) => seen.push(`update ${object.metadata?.name} ${String(object.spec?.priority)}`));
    informer.on('delete', (object) => seen.push(`delete ${object.metadata?.name}`));
    // client-node's informer stops on any error but a timeout (a dropped connection included); a
    // controller restarts it, as the operator must.
    let stopping = false;
    informer.on('error', (error) => {
      errors.push(error);
      setTimeout(() => {
        if (!stopping) void informer.start();
      }, 100);
    });
    const create = (name: string) => custom.createNamespacedCustomObject({ group: SAMPLE_GROUP, version: VERSION, namespace: ns, plural: SAMPLE_RESOURCE, body: sampleTask(name) });
    const prioritise = (name: string, priority: number) => custom.patchNamespacedCustomObject({ group: SAMPLE_GROUP, version: VERSION, namespace: ns, plural: SAMPLE_RESOURCE, name, body: { spec: { priority } } }, mergePatch);
    await create('first');
    await informer.start();
    try {
      await eventually(() => seen.includes('add first'));
      await create('second');
      await prioritise('second', 5);
      await custom.deleteNamespacedCustomObject({ group: SAMPLE_GROUP, version: VERSION, namespace: ns, plural: SAMPLE_RESOURCE, name: 'first' });
      await eventually(() => seen.includes('delete first') && seen.includes('update second 5'));

      server.dropWatches();
      await prioritise('second', 6);
      await eventually(() => seen.includes('update second 6'), 10_000);
      assert.ok(errors.length >= 1, 'an abruptly dropped watch surfaces as an informer error');

      server.expireHistory();
      server.dropWatches();
      await create('third');
      await eventually(() => informer.list().map((object) => object.metadata?.name).sort().join() === 'second,third', 10_000);
    } finally {
      stopping = true;
      await informer.stop();
    }
  });
});
