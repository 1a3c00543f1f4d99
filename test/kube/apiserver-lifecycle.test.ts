import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { kubeRequest } from '../support/kube/raw-client.ts';
import { sampleTask } from '../support/kube/sample-crd.ts';
import { startKubeApiServer } from '../support/kube/server.ts';
import type { KubeApiServer } from '../support/kube/server.ts';
import { createNamespace, eventually, installSampleCrd } from '../support/kube/test-fixtures.ts';

/** Deletion in the in-memory API server: finalizers, owner references, namespaces, CRDs. */

type Body = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let server: KubeApiServer;
const call = (method: string, path: string, request: Parameters<typeof kubeRequest>[3] = {}) => kubeRequest<Body>(server.url, method, path, request);
const tasks = (ns: string, name = '') => `/apis/sample.hourglass.dev/v1alpha1/namespaces/${ns}/sampletasks${name ? `/${name}` : ''}`;
const configMaps = (ns: string, name = '') => `/api/v1/namespaces/${ns}/configmaps${name ? `/${name}` : ''}`;
const merge = 'application/merge-patch+json';

function ownedConfigMap(name: string, owners: Body[]): Body {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, ownerReferences: owners.map((owner) => ({ apiVersion: owner.apiVersion, kind: owner.kind, name: owner.metadata.name, uid: owner.metadata.uid, controller: false })) },
    data: { a: 'b' },
  };
}

const gone = (path: string) => async () => (await call('GET', path)).status === 404;

describe('deletion in the in-memory API server', () => {
  before(async () => {
    server = await startKubeApiServer();
    await installSampleCrd(server);
  });
  after(() => server.close());

  test('a finalizer keeps a deleted object, with deletionTimestamp, until the last finalizer goes', async () => {
    const ns = await createNamespace(server);
    await call('POST', tasks(ns), { body: sampleTask('held', {}, { finalizers: ['a.example/one', 'a.example/two'] }) });
    const deleted = await call('DELETE', tasks(ns, 'held'));
    assert.equal(deleted.status, 200);
    assert.ok(deleted.body.metadata.deletionTimestamp);
    assert.equal(deleted.body.metadata.generation, 2, 'setting deletionTimestamp bumps generation, as on a real server');
    const held = await call('GET', tasks(ns, 'held'));
    assert.equal(held.status, 200);
    const added = await call('PATCH', tasks(ns, 'held'), { body: { metadata: { finalizers: ['a.example/one', 'a.example/two', 'a.example/three'] } }, contentType: merge });
    assert.equal(added.status, 422, 'no new finalizers on an object being deleted');
    await call('PATCH', tasks(ns, 'held'), { body: { metadata: { finalizers: ['a.example/two'] } }, contentType: merge });
    assert.equal((await call('GET', tasks(ns, 'held'))).status, 200);
    const last = await call('PATCH', tasks(ns, 'held'), { body: { metadata: { finalizers: null } }, contentType: merge });
    assert.equal(last.status, 200);
    assert.equal((await call('GET', tasks(ns, 'held'))).status, 404);
  });

  test('deleting an owner deletes its dependents (background) unless asked to orphan them', async () => {
    const ns = await createNamespace(server);
    const owner = (await call('POST', tasks(ns), { body: sampleTask('owner') })).body;
    const other = (await call('POST', tasks(ns), { body: sampleTask('other-owner') })).body;
    await call('POST', configMaps(ns), { body: ownedConfigMap('only-child', [owner]) });
    await call('POST', configMaps(ns), { body: ownedConfigMap('shared-child', [owner, other]) });
    const deployment = {
      apiVersion: 'apps/v1', kind: 'Deployment',
      metadata: { name: 'workers', ownerReferences: [{ apiVersion: owner.apiVersion, kind: owner.kind, name: 'owner', uid: owner.metadata.uid, controller: true, blockOwnerDeletion: true }] },
      spec: { selector: { matchLabels: { app: 'w' } }, template: { metadata: { labels: { app: 'w' } }, spec: { containers: [{ name: 'w', image: 'w:1' }] } } },
    };
    assert.equal((await call('POST', `/apis/apps/v1/namespaces/${ns}/deployments`, { body: deployment })).status, 201);
    await call('DELETE', tasks(ns, 'owner'));
    await eventually(gone(configMaps(ns, 'only-child')));
    await eventually(gone(`/apis/apps/v1/namespaces/${ns}/deployments/workers`));
    const shared = await call('GET', configMaps(ns, 'shared-child'));
    assert.equal(shared.status, 200, 'a dependent with another live owner stays');
    assert.deepEqual(shared.body.metadata.ownerReferences.map((reference: Body) => reference.name), ['other-owner']);

    await call('POST', configMaps(ns), { body: ownedConfigMap('orphan', [other]) });
    await call('DELETE', tasks(ns, 'other-owner'), { body: { propagationPolicy: 'Orphan' } });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const orphan = await call('GET', configMaps(ns, 'orphan'));
    assert.equal(orphan.status, 200);
    assert.equal(orphan.body.metadata.ownerReferences, undefined);
  });

  test('foreground deletion removes dependents before the owner', async () => {
    const ns = await createNamespace(server);
    const owner = (await call('POST', tasks(ns), { body: sampleTask('fg') })).body;
    await call('POST', configMaps(ns), { body: { ...ownedConfigMap('fg-child', [owner]), metadata: { ...ownedConfigMap('fg-child', [owner]).metadata, finalizers: ['x.example/hold'] } } });
    const deleted = await call('DELETE', tasks(ns, 'fg'), { body: { propagationPolicy: 'Foreground' } });
    assert.ok(deleted.body.metadata.finalizers.includes('foregroundDeletion'));
    await eventually(async () => Boolean((await call('GET', configMaps(ns, 'fg-child'))).body.metadata.deletionTimestamp));
    assert.equal((await call('GET', tasks(ns, 'fg'))).status, 200, 'the owner waits for its dependent');
    await call('PATCH', configMaps(ns, 'fg-child'), { body: { metadata: { finalizers: null } }, contentType: merge });
    await eventually(gone(tasks(ns, 'fg')));
  });

  test('delete preconditions and dryRun protect the object', async () => {
    const ns = await createNamespace(server);
    const created = (await call('POST', tasks(ns), { body: sampleTask('guarded') })).body;
    const wrongUid = await call('DELETE', tasks(ns, 'guarded'), { body: { preconditions: { uid: 'not-the-uid' } } });
    assert.equal(wrongUid.status, 409);
    const dry = await call('DELETE', `${tasks(ns, 'guarded')}?dryRun=All`);
    assert.equal(dry.status, 200);
    assert.equal((await call('GET', tasks(ns, 'guarded'))).status, 200);
    const right = await call('DELETE', tasks(ns, 'guarded'), { body: { preconditions: { uid: created.metadata.uid, resourceVersion: created.metadata.resourceVersion } } });
    assert.equal(right.status, 200);
    assert.equal((await call('GET', tasks(ns, 'guarded'))).status, 404);
  });

  test('a deleted namespace terminates: it refuses new objects and disappears once empty', async () => {
    const ns = await createNamespace(server);
    await call('POST', tasks(ns), { body: sampleTask('inside', {}, { finalizers: ['x.example/hold'] }) });
    await call('POST', configMaps(ns), { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } } });
    const deleted = await call('DELETE', `/api/v1/namespaces/${ns}`);
    assert.equal(deleted.body.status.phase, 'Terminating');
    await eventually(gone(configMaps(ns, 'c')));
    const refused = await call('POST', configMaps(ns), { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'late' } } });
    assert.equal(refused.status, 403);
    assert.equal((await call('GET', `/api/v1/namespaces/${ns}`)).status, 200, 'waits for the finalizer');
    await call('PATCH', tasks(ns, 'inside'), { body: { metadata: { finalizers: null } }, contentType: merge });
    await eventually(gone(`/api/v1/namespaces/${ns}`));
  });

  test('deleting a CRD removes its objects and its discovery entry', async () => {
    const ns = await createNamespace(server);
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition',
      metadata: { name: 'widgets.temp.hourglass.dev' },
      spec: {
        group: 'temp.hourglass.dev', scope: 'Namespaced', names: { plural: 'widgets', kind: 'Widget' },
        versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
      },
    };
    const created = await call('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { body: crd });
    assert.equal(created.body.status.conditions.find((condition: Body) => condition.type === 'Established').status, 'True');
    await call('POST', `/apis/temp.hourglass.dev/v1/namespaces/${ns}/widgets`, { body: { apiVersion: 'temp.hourglass.dev/v1', kind: 'Widget', metadata: { name: 'w' }, anything: 1 } });
    assert.equal((await call('GET', `/apis/temp.hourglass.dev/v1/namespaces/${ns}/widgets/w`)).body.anything, 1);
    await call('DELETE', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.temp.hourglass.dev');
    assert.equal((await call('GET', '/apis/temp.hourglass.dev/v1')).status, 404);
    assert.equal((await call('GET', `/apis/temp.hourglass.dev/v1/namespaces/${ns}/widgets/w`)).status, 404);
  });
});
