import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { kubeRequest } from '../support/kube/raw-client.ts';
import { SAMPLE_API_VERSION, sampleTask } from '../support/kube/sample-crd.ts';
import { startKubeApiServer } from '../support/kube/server.ts';
import type { KubeApiServer } from '../support/kube/server.ts';
import { createNamespace, installSampleCrd } from '../support/kube/test-fixtures.ts';

/** HTTP-level semantics of the in-memory API server: status codes, Status objects, write rules. */

type Body = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let server: KubeApiServer;
const call = (method: string, path: string, request: Parameters<typeof kubeRequest>[3] = {}) => kubeRequest<Body>(server.url, method, path, request);
const tasks = (ns: string, name = '') => `/apis/sample.hourglass.dev/v1alpha1/namespaces/${ns}/sampletasks${name ? `/${name}` : ''}`;

function deployment(name: string, labels: Record<string, string> = {}): Body {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels },
    spec: {
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'main', image: 'x:1', env: [{ name: 'A', value: '1' }] }, { name: 'side', image: 'y:1' }] } },
    },
  };
}

describe('in-memory API server semantics', () => {
  before(async () => {
    server = await startKubeApiServer();
    await installSampleCrd(server);
  });
  after(() => server.close());

  test('serves discovery, version and the OpenAPI answers kubectl relies on', async () => {
    const version = await call('GET', '/version');
    assert.equal(version.body.major, '1');
    assert.equal(version.body.minor, '32');
    assert.match(version.body.gitVersion, /^v1\.32\./);
    const groups = await call('GET', '/apis', { accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json' });
    assert.equal(groups.body.kind, 'APIGroupList', 'aggregated discovery is not implemented, so the plain list answers');
    assert.ok(groups.body.groups.some((group: Body) => group.name === 'sample.hourglass.dev'));
    const apps = await call('GET', '/apis/apps/v1');
    const scale = apps.body.resources.find((resource: Body) => resource.name === 'deployments/scale');
    assert.deepEqual({ group: scale.group, version: scale.version, kind: scale.kind }, { group: 'autoscaling', version: 'v1', kind: 'Scale' });
    const sample = await call('GET', '/apis/sample.hourglass.dev/v1alpha1');
    assert.deepEqual(sample.body.resources.map((resource: Body) => resource.name), ['sampletasks', 'sampletasks/status', 'sampletasks/scale']);
    const openapi = await fetch(`${server.url}/openapi/v2`);
    assert.equal(openapi.status, 200);
    assert.equal(openapi.headers.get('content-type'), 'application/octet-stream');
    assert.equal((await openapi.arrayBuffer()).byteLength, 0);
    assert.equal((await fetch(`${server.url}/openapi/v3`)).status, 404);
    const missing = await call('GET', '/apis/nothing.example.com/v1/things');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.kind, 'Status');
  });

  test('create and get answer with Status objects for NotFound and AlreadyExists', async () => {
    const ns = await createNamespace(server);
    const created = await call('POST', tasks(ns), { body: sampleTask('a') });
    assert.equal(created.status, 201);
    assert.equal(created.body.metadata.generation, 1);
    assert.match(created.body.metadata.uid, /^[0-9a-f-]{36}$/);
    const again = await call('POST', tasks(ns), { body: sampleTask('a') });
    assert.equal(again.status, 409);
    assert.equal(again.body.reason, 'AlreadyExists');
    const missing = await call('GET', tasks(ns, 'nope'));
    assert.deepEqual({ status: missing.status, reason: missing.body.reason, message: missing.body.message }, { status: 404, reason: 'NotFound', message: 'sampletasks.sample.hourglass.dev "nope" not found' });
    const generated = await call('POST', tasks(ns), { body: { ...sampleTask(''), metadata: { generateName: 'gen-' } } });
    assert.match(generated.body.metadata.name, /^gen-[a-z0-9]{5}$/);
    const elsewhere = await call('POST', tasks('no-such-namespace'), { body: sampleTask('b') });
    assert.equal(elsewhere.status, 404);
    assert.equal(elsewhere.body.message, 'namespaces "no-such-namespace" not found');
    const wrongVerb = await call('PUT', tasks(ns), { body: sampleTask('b') });
    assert.equal(wrongVerb.status, 405);
    assert.equal(wrongVerb.body.reason, 'MethodNotAllowed');
  });

  test('refuses a stale resourceVersion with 409 Conflict and keeps no-op writes free', async () => {
    const ns = await createNamespace(server);
    const created = (await call('POST', tasks(ns), { body: sampleTask('occ') })).body;
    const first = await call('PUT', tasks(ns, 'occ'), { body: { ...created, spec: { ...created.spec, priority: 1 } } });
    assert.equal(first.status, 200);
    const stale = await call('PUT', tasks(ns, 'occ'), { body: { ...created, spec: { ...created.spec, priority: 2 } } });
    assert.equal(stale.status, 409);
    assert.equal(stale.body.reason, 'Conflict');
    assert.match(stale.body.message, /the object has been modified; please apply your changes to the latest version and try again/);
    const stalePatch = await call('PATCH', tasks(ns, 'occ'), { body: { metadata: { resourceVersion: created.metadata.resourceVersion }, spec: { priority: 3 } }, contentType: 'application/merge-patch+json' });
    assert.equal(stalePatch.status, 409);
    const unconditional = await call('PUT', tasks(ns, 'occ'), { body: { ...first.body, metadata: { ...first.body.metadata, resourceVersion: undefined } } });
    assert.equal(unconditional.status, 422, 'custom resources need a resourceVersion on update');
    const noop = await call('PUT', tasks(ns, 'occ'), { body: first.body });
    assert.equal(noop.body.metadata.resourceVersion, first.body.metadata.resourceVersion, 'an update that changes nothing writes nothing');
  });

  test('bumps generation on spec changes only; status and main endpoints ignore each other', async () => {
    const ns = await createNamespace(server);
    const created = (await call('POST', tasks(ns), { body: { ...sampleTask('gen'), status: { replicas: 9 } } })).body;
    assert.equal(created.status, undefined, 'status is dropped on create when the status subresource exists');
    const labelled = await call('PATCH', tasks(ns, 'gen'), { body: { metadata: { labels: { a: 'b' } } }, contentType: 'application/merge-patch+json' });
    assert.equal(labelled.body.metadata.generation, 1);
    const status = await call('PATCH', `${tasks(ns, 'gen')}/status`, { body: { status: { replicas: 2, lastRun: { phase: 'Succeeded' } }, spec: { priority: 50 } }, contentType: 'application/merge-patch+json' });
    assert.equal(status.body.status.replicas, 2);
    assert.equal(status.body.spec.priority, undefined, 'the status endpoint ignores spec');
    assert.equal(status.body.metadata.generation, 1);
    const main = await call('PATCH', tasks(ns, 'gen'), { body: { spec: { priority: 7 }, status: { replicas: 99 } }, contentType: 'application/merge-patch+json' });
    assert.equal(main.body.metadata.generation, 2);
    assert.equal(main.body.status.replicas, 2, 'the main endpoint ignores status');
  });

  test('validates custom resources against the schema, defaults and CEL rules', async () => {
    const ns = await createNamespace(server);
    const defaulted = await call('POST', tasks(ns), { body: sampleTask('defaults', { replicas: { desired: 1 } }) });
    assert.equal(defaulted.body.spec.suspend, false);
    assert.equal(defaulted.body.spec.concurrencyPolicy, 'Allow');
    assert.deepEqual(defaulted.body.spec.replicas, { desired: 1, min: 0, max: 10 });
    const rejected = await call('POST', tasks(ns), { body: sampleTask('bad', { type: 'shell', shell: undefined, priority: 'high', replicas: { min: 3, max: 1 } }) });
    assert.equal(rejected.status, 422);
    assert.equal(rejected.body.reason, 'Invalid');
    const fields = rejected.body.details.causes.map((cause: Body) => cause.field).sort();
    assert.deepEqual(fields, ['spec', 'spec.priority', 'spec.replicas']);
    assert.match(rejected.body.message, /^SampleTask\.sample\.hourglass\.dev "bad" is invalid: \[/);
    assert.match(rejected.body.message, /spec\.priority: Invalid value: "string": spec\.priority in body must be of type integer: "string"/);
    assert.match(rejected.body.message, /spec\.replicas: Invalid value: "object": replicas\.min must be <= replicas\.max/);
    const missingType = await call('POST', tasks(ns), { body: { apiVersion: SAMPLE_API_VERSION, kind: 'SampleTask', metadata: { name: 'untyped' }, spec: {} } });
    assert.match(missingType.body.message, /spec\.type: Required value/);
    const unknown = await call('POST', tasks(ns), { body: sampleTask('extra', { colour: 'red' }) });
    assert.equal(unknown.status, 201);
    assert.equal(unknown.body.spec.colour, undefined, 'unknown fields are pruned');
    assert.equal(unknown.headers.get('warning'), '299 - "unknown field \\"spec.colour\\""');
    const strict = await call('POST', `${tasks(ns)}?fieldValidation=Strict`, { body: sampleTask('strict', { colour: 'red' }) });
    assert.equal(strict.status, 400);
    assert.match(strict.body.message, /strict decoding error: unknown field "spec.colour"/);
    const preserved = await call('POST', tasks(ns), { body: sampleTask('free', { template: { anything: { goes: true } } }) });
    assert.deepEqual(preserved.body.spec.template, { anything: { goes: true } });
  });

  test('dryRun=All validates and answers without storing', async () => {
    const ns = await createNamespace(server);
    const dry = await call('POST', `${tasks(ns)}?dryRun=All`, { body: sampleTask('dry') });
    assert.equal(dry.status, 201);
    assert.equal((await call('GET', tasks(ns, 'dry'))).status, 404);
    const invalidDry = await call('POST', `${tasks(ns)}?dryRun=All`, { body: sampleTask('dry', { priority: 1000 }) });
    assert.equal(invalidDry.status, 422);
  });

  test('applies JSON patch, merge patch, strategic merge (built-ins only) and server-side apply', async () => {
    const ns = await createNamespace(server);
    await call('POST', tasks(ns), { body: sampleTask('p') });
    const json = await call('PATCH', tasks(ns, 'p'), { body: [{ op: 'add', path: '/spec/priority', value: 4 }, { op: 'replace', path: '/spec/schedule', value: '@hourly' }], contentType: 'application/json-patch+json' });
    assert.deepEqual([json.body.spec.priority, json.body.spec.schedule], [4, '@hourly']);
    const failedTest = await call('PATCH', tasks(ns, 'p'), { body: [{ op: 'test', path: '/spec/priority', value: 5 }], contentType: 'application/json-patch+json' });
    assert.equal(failedTest.status, 422);
    const merged = await call('PATCH', tasks(ns, 'p'), { body: { spec: { priority: null } }, contentType: 'application/merge-patch+json' });
    assert.equal(merged.body.spec.priority, undefined);
    const strategicOnCr = await call('PATCH', tasks(ns, 'p'), { body: { spec: {} }, contentType: 'application/strategic-merge-patch+json' });
    assert.equal(strategicOnCr.status, 415);

    const deployments = `/apis/apps/v1/namespaces/${ns}/deployments`;
    await call('POST', deployments, { body: deployment('web') });
    const strategic = await call('PATCH', `${deployments}/web`, {
      body: { spec: { template: { spec: { containers: [{ name: 'main', image: 'x:2', env: [{ name: 'B', value: '2' }] }, { name: 'side', $patch: 'delete' }] } } } },
      contentType: 'application/strategic-merge-patch+json',
    });
    assert.equal(strategic.status, 200, JSON.stringify(strategic.body));
    assert.deepEqual(strategic.body.spec.template.spec.containers, [{ name: 'main', image: 'x:2', env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }] }]);
    assert.equal(strategic.body.metadata.generation, 2);

    const noManager = await call('PATCH', tasks(ns, 'applied'), { body: 'apiVersion: x', contentType: 'application/apply-patch+yaml' });
    assert.equal(noManager.status, 400);
    const applyYaml = (suspend: boolean) => `apiVersion: ${SAMPLE_API_VERSION}\nkind: SampleTask\nmetadata:\n  name: applied\nspec:\n  type: http\n  http: { url: "http://x" }\n  suspend: ${suspend}\n`;
    const created = await call('PATCH', `${tasks(ns, 'applied')}?fieldManager=tests`, { body: applyYaml(true), contentType: 'application/apply-patch+yaml' });
    assert.equal(created.status, 201);
    const updated = await call('PATCH', `${tasks(ns, 'applied')}?fieldManager=tests`, { body: applyYaml(false), contentType: 'application/apply-patch+yaml' });
    assert.equal(updated.status, 200);
    assert.equal(updated.body.spec.suspend, false);
    assert.equal(updated.body.metadata.generation, 2);
  });

  test('filters lists by label and field selectors', async () => {
    const ns = await createNamespace(server);
    const labels: Array<[string, Record<string, string>]> = [['one', { tier: 'a', team: 'x' }], ['two', { tier: 'b' }], ['three', { tier: 'c', team: 'y' }]];
    for (const [name, set] of labels) await call('POST', tasks(ns), { body: sampleTask(name, {}, { labels: set }) });
    const names = async (query: string) => (await call('GET', `${tasks(ns)}?${query}`)).body.items.map((item: Body) => item.metadata.name).sort();
    assert.deepEqual(await names('labelSelector=tier%3Da'), ['one']);
    assert.deepEqual(await names('labelSelector=tier!%3Da'), ['three', 'two']);
    assert.deepEqual(await names(`labelSelector=${encodeURIComponent('tier in (a,c)')}`), ['one', 'three']);
    assert.deepEqual(await names(`labelSelector=${encodeURIComponent('tier notin (a,c)')}`), ['two']);
    assert.deepEqual(await names('labelSelector=team'), ['one', 'three']);
    assert.deepEqual(await names('labelSelector=!team'), ['two']);
    assert.deepEqual(await names(`labelSelector=${encodeURIComponent('team,tier=c')}`), ['three']);
    assert.deepEqual(await names('fieldSelector=metadata.name%3Dtwo'), ['two']);
    assert.deepEqual(await names(`fieldSelector=metadata.namespace%3D${ns}`), ['one', 'three', 'two']);
    const unsupported = await call('GET', `${tasks(ns)}?fieldSelector=spec.type%3Dshell`);
    assert.equal(unsupported.status, 400);
    assert.match(unsupported.body.message, /field label not supported: spec.type/);

    const events = `/api/v1/namespaces/${ns}/events`;
    for (const [name, object] of [['e1', 'one'], ['e2', 'two'], ['e3', 'one']]) {
      await call('POST', events, { body: { apiVersion: 'v1', kind: 'Event', metadata: { name }, involvedObject: { kind: 'SampleTask', name: object, namespace: ns }, reason: 'SuccessfulCreate', type: 'Normal', message: 'm' } });
    }
    const about = await call('GET', `${events}?fieldSelector=${encodeURIComponent(`involvedObject.kind=SampleTask,involvedObject.name=one`)}`);
    assert.deepEqual(about.body.items.map((item: Body) => item.metadata.name).sort(), ['e1', 'e3']);
  });

  test('paginates lists with limit and continue', async () => {
    const ns = await createNamespace(server);
    for (let index = 0; index < 5; index++) await call('POST', tasks(ns), { body: sampleTask(`page-${index}`) });
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await call('GET', `${tasks(ns)}?limit=2${token ? `&continue=${token}` : ''}`);
      seen.push(...page.body.items.map((item: Body) => item.metadata.name));
      if (pages === 0) assert.equal(page.body.metadata.remainingItemCount, 3);
      token = page.body.metadata.continue;
      pages++;
    } while (token);
    assert.equal(pages, 3);
    assert.deepEqual(seen, ['page-0', 'page-1', 'page-2', 'page-3', 'page-4']);
    const bad = await call('GET', `${tasks(ns)}?limit=2&continue=garbage`);
    assert.equal(bad.status, 400);
  });

  test('answers Table requests with the CRD printer columns', async () => {
    const ns = await createNamespace(server);
    await call('POST', tasks(ns), { body: sampleTask('tabled', { replicas: { desired: 2 } }) });
    await call('PATCH', `${tasks(ns, 'tabled')}/status`, { body: { status: { lastRun: { phase: 'Failed' } } }, contentType: 'application/merge-patch+json' });
    const accept = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';
    const table = await call('GET', tasks(ns), { accept });
    assert.equal(table.body.kind, 'Table');
    assert.deepEqual(table.body.columnDefinitions.map((column: Body) => column.name), ['Name', 'Schedule', 'Suspend', 'Desired', 'Last Result', 'Age']);
    const [row] = table.body.rows;
    assert.deepEqual(row.cells.slice(0, 5), ['tabled', '*/5 * * * *', false, 2, 'Failed']);
    assert.match(row.cells[5], /^\d+s$/);
    assert.equal(row.object.kind, 'PartialObjectMetadata');
    const single = await call('GET', `${tasks(ns, 'tabled')}?includeObject=None`, { accept });
    assert.equal(single.body.rows.length, 1);
    assert.equal(single.body.rows[0].object, undefined);
    const builtin = await call('GET', `/api/v1/namespaces/${ns}/configmaps`, { accept });
    assert.deepEqual(builtin.body.columnDefinitions.map((column: Body) => column.name), ['Name', 'Age']);
  });

  test('serves the scale subresource of custom resources and Deployments', async () => {
    const ns = await createNamespace(server);
    await call('POST', tasks(ns), { body: sampleTask('scaled', { replicas: { desired: 1 } }) });
    const scale = await call('GET', `${tasks(ns, 'scaled')}/scale`);
    assert.deepEqual([scale.body.kind, scale.body.apiVersion, scale.body.spec.replicas], ['Scale', 'autoscaling/v1', 1]);
    const patched = await call('PATCH', `${tasks(ns, 'scaled')}/scale`, { body: { spec: { replicas: 4 } }, contentType: 'application/merge-patch+json' });
    assert.equal(patched.body.spec.replicas, 4);
    assert.equal((await call('GET', tasks(ns, 'scaled'))).body.spec.replicas.desired, 4);
    const negative = await call('PATCH', `${tasks(ns, 'scaled')}/scale`, { body: { spec: { replicas: -1 } }, contentType: 'application/merge-patch+json' });
    assert.equal(negative.status, 422);

    const deployments = `/apis/apps/v1/namespaces/${ns}/deployments`;
    await call('POST', deployments, { body: deployment('scalable') });
    const deploymentScale = await call('GET', `${deployments}/scalable/scale`);
    assert.equal(deploymentScale.body.spec.replicas, 1, 'spec.replicas defaults to 1');
    assert.equal(deploymentScale.body.status.selector, 'app=scalable');
    const put = await call('PUT', `${deployments}/scalable/scale`, { body: { ...deploymentScale.body, spec: { replicas: 3 } } });
    assert.equal(put.body.spec.replicas, 3);
    const updated = (await call('GET', `${deployments}/scalable`)).body;
    assert.deepEqual([updated.spec.replicas, updated.metadata.generation], [3, 2]);
  });

  test('a CRD served at two versions shares one store, and updating a CRD changes its schema and columns', async () => {
    const ns = await createNamespace(server);
    const version = (name: string, storage: boolean, columns: Body[]) => ({
      name, served: true, storage,
      additionalPrinterColumns: columns,
      schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { size: { type: 'integer', maximum: 10 } } } } } },
    });
    const crd: Body = {
      apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'gadgets.multi.hourglass.dev' },
      spec: { group: 'multi.hourglass.dev', scope: 'Namespaced', names: { plural: 'gadgets', kind: 'Gadget' }, versions: [version('v1', true, []), version('v1beta1', false, [])] },
    };
    const created = await call('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { body: crd });
    assert.equal(created.status, 201);
    const path = (v: string, name = '') => `/apis/multi.hourglass.dev/${v}/namespaces/${ns}/gadgets${name ? `/${name}` : ''}`;
    await call('POST', path('v1beta1'), { body: { apiVersion: 'multi.hourglass.dev/v1beta1', kind: 'Gadget', metadata: { name: 'g' }, spec: { size: 3 } } });
    const asV1 = await call('GET', path('v1', 'g'));
    assert.deepEqual([asV1.body.apiVersion, asV1.body.spec.size], ['multi.hourglass.dev/v1', 3]);
    const groupDocument = await call('GET', '/apis/multi.hourglass.dev');
    assert.equal(groupDocument.body.preferredVersion.version, 'v1');
    assert.equal((await call('POST', path('v1'), { body: { apiVersion: 'multi.hourglass.dev/v1', kind: 'Gadget', metadata: { name: 'big' }, spec: { size: 11 } } })).status, 422);

    const stored = created.body;
    stored.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.size.maximum = 100;
    stored.spec.versions[0].additionalPrinterColumns = [{ name: 'Size', type: 'integer', jsonPath: '.spec.size' }];
    assert.equal((await call('PUT', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.multi.hourglass.dev', { body: stored })).status, 200);
    assert.equal((await call('POST', path('v1'), { body: { apiVersion: 'multi.hourglass.dev/v1', kind: 'Gadget', metadata: { name: 'big' }, spec: { size: 11 } } })).status, 201);
    const table = await call('GET', path('v1'), { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' });
    assert.deepEqual(table.body.columnDefinitions.map((column: Body) => column.name), ['Name', 'Size']);
  });

  test('Leases support the optimistic concurrency leader election needs', async () => {
    const ns = await createNamespace(server);
    const leases = `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`;
    const spec = { holderIdentity: 'a', leaseDurationSeconds: 15, acquireTime: '2026-01-01T00:00:00.000000Z', renewTime: '2026-01-01T00:00:00.000000Z' };
    const created = (await call('POST', leases, { body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'leader' }, spec } })).body;
    const takeover = await call('PUT', `${leases}/leader`, { body: { ...created, spec: { ...spec, holderIdentity: 'b' } } });
    assert.equal(takeover.status, 200);
    const lost = await call('PUT', `${leases}/leader`, { body: { ...created, spec: { ...spec, holderIdentity: 'c' } } });
    assert.equal(lost.status, 409, 'the second candidate with the old resourceVersion loses');
    assert.equal((await call('GET', `${leases}/leader`)).body.spec.holderIdentity, 'b');
  });
});
