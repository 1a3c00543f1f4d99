import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { collectWatch, kubeRequest } from '../support/kube/raw-client.ts';
import type { WatchLine } from '../support/kube/raw-client.ts';
import { sampleTask } from '../support/kube/sample-crd.ts';
import { startKubeApiServer } from '../support/kube/server.ts';
import type { KubeApiServer } from '../support/kube/server.ts';
import { createNamespace, installSampleCrd } from '../support/kube/test-fixtures.ts';

/** Watch streams of the in-memory API server: replay, filtering, bookmarks, 410 Gone, dropped connections. */

type Body = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let server: KubeApiServer;
const call = (method: string, path: string, request: Parameters<typeof kubeRequest>[3] = {}) => kubeRequest<Body>(server.url, method, path, request);
const tasks = (ns: string, name = '') => `/apis/sample.hourglass.dev/v1alpha1/namespaces/${ns}/sampletasks${name ? `/${name}` : ''}`;
const merge = 'application/merge-patch+json';
const summary = (events: WatchLine[]) => events.filter((event) => event.type !== 'BOOKMARK').map((event) => `${event.type} ${event.object.metadata.name}`);

describe('watch streams of the in-memory API server', () => {
  before(async () => {
    server = await startKubeApiServer({ bookmarkIntervalMs: 100 });
    await installSampleCrd(server);
  });
  after(() => server.close());

  test('replays from a resourceVersion in order, then streams live', async () => {
    const ns = await createNamespace(server);
    await call('POST', tasks(ns), { body: sampleTask('before') });
    const listed = await call('GET', tasks(ns));
    await call('POST', tasks(ns), { body: sampleTask('a') });
    await call('PATCH', tasks(ns, 'a'), { body: { spec: { priority: 1 } }, contentType: merge });
    await call('DELETE', tasks(ns, 'a'));
    const replayed = await collectWatch(server.url, `${tasks(ns)}?watch=true&resourceVersion=${listed.body.metadata.resourceVersion}`, (events) => events.length >= 4, 1000);
    assert.deepEqual(summary(replayed), ['ADDED a', 'MODIFIED a', 'DELETED a']);
    const versions = replayed.map((event) => Number(event.object.metadata.resourceVersion));
    assert.deepEqual([...versions].sort((x, y) => x - y), versions, 'resourceVersions increase');

    const initial = collectWatch(server.url, `${tasks(ns)}?watch=1`, (events) => events.length >= 2);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await call('POST', tasks(ns), { body: sampleTask('live') });
    assert.deepEqual(summary(await initial), ['ADDED before', 'ADDED live'], 'no resourceVersion: current state first, then changes');
  });

  test('a selector watch sees an object leave the selection as DELETED and enter it as ADDED', async () => {
    const ns = await createNamespace(server);
    await call('POST', tasks(ns), { body: sampleTask('mover', {}, { labels: { pool: 'blue' } }) });
    const rv = (await call('GET', tasks(ns))).body.metadata.resourceVersion;
    await call('PATCH', tasks(ns, 'mover'), { body: { metadata: { labels: { pool: 'green' } } }, contentType: merge });
    await call('PATCH', tasks(ns, 'mover'), { body: { metadata: { labels: { pool: 'blue' } } }, contentType: merge });
    const events = await collectWatch(server.url, `${tasks(ns)}?watch=true&labelSelector=pool%3Dblue&resourceVersion=${rv}`, (seen) => seen.length >= 2, 1000);
    assert.deepEqual(summary(events), ['DELETED mover', 'ADDED mover']);
    const byName = await collectWatch(server.url, `${tasks(ns)}?watch=true&fieldSelector=metadata.name%3Dnobody&resourceVersion=${rv}`, () => false, 300);
    assert.deepEqual(summary(byName), []);
  });

  test('answers 410 Gone, as an ERROR event, for a resourceVersion older than the retained history', async () => {
    const ns = await createNamespace(server);
    await call('POST', tasks(ns), { body: sampleTask('old') });
    const old = (await call('GET', tasks(ns))).body.metadata.resourceVersion;
    await call('PATCH', tasks(ns, 'old'), { body: { spec: { priority: 2 } }, contentType: merge });
    server.expireHistory();
    const current = (await call('GET', tasks(ns))).body.metadata.resourceVersion;
    const expired = await collectWatch(server.url, `${tasks(ns)}?watch=true&resourceVersion=${old}`, () => false, 2000);
    assert.equal(expired.length, 1, 'the stream ends after the error');
    const [error] = expired as [WatchLine];
    assert.equal(error.type, 'ERROR');
    assert.deepEqual([error.object.kind, error.object.code, error.object.reason], ['Status', 410, 'Expired']);
    assert.match(String(error.object.message), /too old resource version/);
    await call('PATCH', tasks(ns, 'old'), { body: { spec: { priority: 3 } }, contentType: merge });
    const fresh = await collectWatch(server.url, `${tasks(ns)}?watch=true&resourceVersion=${current}`, (events) => events.length >= 1, 1000);
    assert.deepEqual(summary(fresh), ['MODIFIED old'], 'watching from the current version still works');
  });

  test('sends bookmarks when asked and ends the stream after timeoutSeconds', async () => {
    const ns = await createNamespace(server);
    const rv = (await call('GET', tasks(ns))).body.metadata.resourceVersion;
    const started = Date.now();
    const events = await collectWatch(server.url, `${tasks(ns)}?watch=true&allowWatchBookmarks=true&timeoutSeconds=1&resourceVersion=${rv}`, () => false, 5000);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 900 && elapsed < 4000, `closed by the server after about a second (${elapsed} ms)`);
    const bookmarks = events.filter((event) => event.type === 'BOOKMARK');
    assert.ok(bookmarks.length >= 3, `bookmarks every 100 ms (${bookmarks.length})`);
    assert.equal(bookmarks[0]?.object.kind, 'SampleTask');
    assert.match(String(bookmarks[0]?.object.metadata.resourceVersion), /^\d+$/);

    const initial = await collectWatch(server.url, `${tasks(ns)}?watch=true&allowWatchBookmarks=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan`, (seen) => seen.length >= 1, 1000);
    assert.equal(initial[0]?.object.metadata.annotations?.['k8s.io/initial-events-end'], 'true');
  });

  test('dropWatches ends every open stream', async () => {
    const ns = await createNamespace(server);
    const started = Date.now();
    const open = [collectWatch(server.url, `${tasks(ns)}?watch=true`, () => false, 10_000), collectWatch(server.url, `/api/v1/namespaces/${ns}/configmaps?watch=true`, () => false, 10_000)];
    await new Promise((resolve) => setTimeout(resolve, 200));
    server.dropWatches();
    await Promise.allSettled(open);
    assert.ok(Date.now() - started < 5000, 'both streams ended long before their own timeout');
  });

  test('legacy /watch/ paths and table watches (kubectl get -w) are served', async () => {
    const ns = await createNamespace(server);
    await call('POST', tasks(ns), { body: sampleTask('legacy') });
    const legacy = await collectWatch(server.url, `/apis/sample.hourglass.dev/v1alpha1/watch/namespaces/${ns}/sampletasks`, (events) => events.length >= 1, 1000);
    assert.deepEqual(summary(legacy), ['ADDED legacy']);
    const response = await fetch(`${server.url}${tasks(ns)}?watch=true`, { headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' } });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const { value } = await reader.read();
    await reader.cancel();
    const event = JSON.parse(Buffer.from(value as Uint8Array).toString('utf8').split('\n')[0] as string);
    assert.equal(event.object.kind, 'Table');
    assert.equal(event.object.rows[0].cells[0], 'legacy');
  });

  test('counts requests by verb for the operator benchmark', async () => {
    const before = server.requestCounts();
    const ns = await createNamespace(server);
    await call('POST', tasks(ns), { body: sampleTask('counted') });
    await call('GET', tasks(ns, 'counted'));
    await call('GET', tasks(ns));
    await call('PATCH', tasks(ns, 'counted'), { body: { spec: { priority: 1 } }, contentType: merge });
    await call('DELETE', tasks(ns, 'counted'));
    const after = server.requestCounts();
    const delta = (verb: string) => (after.byVerb[verb] ?? 0) - (before.byVerb[verb] ?? 0);
    assert.deepEqual([delta('create'), delta('get'), delta('list'), delta('patch'), delta('delete')], [2, 1, 1, 1, 1]);
    assert.equal(after.total - before.total, 6);
  });
});
