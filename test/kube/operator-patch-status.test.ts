import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { API_GROUP, API_VERSION_NAME } from '../../core/model/resource.ts';
import { MERGE_PATCH, describeKubeError, isNotFound, loadKubeClients, type KubeClients, type KubeObject } from '../../operator/kube.ts';
import type { KubeApiServer } from '../support/kube/server.ts';
import { startScheduledTaskApi, type ScheduledTaskApi } from '../support/kube/scheduled-task-api.ts';

/** kube.patchStatus (undici's request API) against the generated client's patchNamespacedCustomObjectStatus. */
describe('the status merge patch without the generated client (in-memory API server)', () => {
  let kube: KubeApiServer;
  let clients: KubeClients;
  let api: ScheduledTaskApi;
  const target = (name: string) => ({ group: API_GROUP, version: API_VERSION_NAME, namespace: 'default', plural: 'scheduledtasks', name });

  before(async () => {
    api = await startScheduledTaskApi('hg-patch-status-');
    ({ kube, clients } = api);
  });
  after(async () => {
    await api?.close();
  });

  const create = (name: string) =>
    clients.custom.createNamespacedCustomObject({
      group: API_GROUP, version: API_VERSION_NAME, namespace: 'default', plural: 'scheduledtasks',
      body: { apiVersion: `${API_GROUP}/${API_VERSION_NAME}`, kind: 'ScheduledTask', metadata: { name }, spec: { type: 'noop' } },
    }) as Promise<KubeObject>;

  it('writes what the generated client writes, as a merge patch of the status only, and returns the object written', async () => {
    await create('lean');
    await create('generated');
    const status = { observedGeneration: 1, taskId: 'abc', conditions: [{ type: 'Ready', status: 'True', reason: 'Registered', message: 'ok', lastTransitionTime: '2026-12-03T00:00:00Z', observedGeneration: 1 }] };
    const lean = await clients.patchStatus(target('lean'), status);
    const generated = (await clients.custom.patchNamespacedCustomObjectStatus({ ...target('generated'), body: { status } }, MERGE_PATCH)) as KubeObject;
    assert.deepEqual(lean.status, generated.status);
    assert.deepEqual(lean.spec, generated.spec);
    assert.equal(lean.metadata.generation, 1, 'a status write does not bump the generation');
    const read = (await clients.custom.getNamespacedCustomObject(target('lean'))) as KubeObject;
    assert.equal(read.metadata.resourceVersion, lean.metadata.resourceVersion);
    // merge patch: null removes a field, others stay
    const cleared = await clients.patchStatus(target('lean'), { taskId: null });
    assert.equal((cleared.status as { taskId?: string }).taskId, undefined);
    assert.equal((cleared.status as { observedGeneration?: number }).observedGeneration, 1);
  });

  it('fails as the generated client does: an ApiException with the status code and the server message', async () => {
    const error = await clients.patchStatus(target('missing'), { observedGeneration: 1 }).then(() => undefined, (e: unknown) => e);
    const generated = await clients.custom.patchNamespacedCustomObjectStatus({ ...target('missing'), body: { status: { observedGeneration: 1 } } }, MERGE_PATCH).then(() => undefined, (e: unknown) => e);
    assert.ok(isNotFound(error), String(error));
    assert.equal(describeKubeError(error), describeKubeError(generated));
    assert.match(describeKubeError(error), /missing/);
  });

  it('fails at once once the clients are closed, without reaching the API server', async () => {
    const closing = loadKubeClients(api.kubeconfig);
    await create('closed');
    await closing.patchStatus(target('closed'), { observedGeneration: 1 });
    closing.close();
    const before = kube.requestCounts().total;
    await assert.rejects(closing.patchStatus(target('closed'), { observedGeneration: 2 }));
    assert.equal(kube.requestCounts().total, before);
  });
});
