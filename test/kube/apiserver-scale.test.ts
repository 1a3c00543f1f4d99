import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createMany, kubeRequest } from '../support/kube/raw-client.ts';
import { sampleTask } from '../support/kube/sample-crd.ts';
import { startKubeApiServer } from '../support/kube/server.ts';
import type { KubeApiServer } from '../support/kube/server.ts';
import { eventually, installSampleCrd } from '../support/kube/test-fixtures.ts';

/**
 * The operator benchmark puts 10,000 custom resources in the server and watches them: a list must
 * stay well under a second and every watcher must get every event once (linear fan-out).
 */

const OBJECTS = 10_000;
const WATCHERS = 3;
const collection = '/apis/sample.hourglass.dev/v1alpha1/namespaces/default/sampletasks';

let server: KubeApiServer;

describe('the in-memory API server at benchmark size', () => {
  before(async () => {
    server = await startKubeApiServer();
    await installSampleCrd(server);
  });
  after(() => server.close());

  test(`lists ${OBJECTS} custom resources in well under a second and fans every event out once`, async () => {
    const controller = new AbortController();
    const delivered = Array.from({ length: WATCHERS }, () => 0);
    const streams = delivered.map(async (_, index) => {
      try {
        const response = await fetch(`${server.url}${collection}?watch=true`, { signal: controller.signal });
        for await (const chunk of response.body as AsyncIterable<Uint8Array>) for (const byte of chunk) if (byte === 10) delivered[index]!++;
      } catch (error) {
        if ((error as Error).name !== 'AbortError') throw error;
      }
    });
    await createMany(server.url, collection, Array.from({ length: OBJECTS }, (_, index) => sampleTask(`task-${index}`)));
    await eventually(() => delivered.every((count) => count === OBJECTS), 30_000);

    const timings: number[] = [];
    for (let round = 0; round < 3; round++) {
      const started = performance.now();
      const listed = await kubeRequest<{ items: unknown[] }>(server.url, 'GET', collection);
      timings.push(performance.now() - started);
      assert.equal(listed.body.items.length, OBJECTS);
    }
    const best = Math.min(...timings);
    assert.ok(best < 1000, `a list of ${OBJECTS} took ${Math.round(best)} ms (fetch and JSON.parse included)`);
    controller.abort();
    await Promise.all(streams);
    assert.deepEqual(delivered, Array.from({ length: WATCHERS }, () => OBJECTS), 'each watcher saw each ADDED exactly once');
  });
});
