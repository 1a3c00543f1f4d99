import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { CRD_FILES } from '../../operator/crds.ts';
import { TASK_FINALIZER } from '../../operator/index.ts';
import { startKubeApiServer, type KubeApiServer, type RequestCounts } from '../support/kube/server.ts';
import { REPO_ROOT, backendEnv, freePort, sleep, startProcess, tracked, useE2eWorld, waitFor, writeTestConfig, type FailureFlag, type Json, type Proc } from '../support/processes.ts';
import { SERVICE_URLS, skipUnless, uniqueNamespace } from '../support/services.ts';

/**
 * What the operator writes to the API, counted by the in-memory API server: one status write for a new
 * ScheduledTask (no finalizer), nothing for a relist of unchanged objects, and deletions honoured without a
 * finalizer, also those made while no operator ran; objects that still carry the old finalizer lose it.
 */

const TASKS = '/apis/scheduling.hourglass.dev/v1alpha1/namespaces/default/scheduledtasks';

describe('operator API writes and deletions without a finalizer (operator process, in-memory API server, Postgres)', { skip: await skipUnless('postgres'), timeout: 180_000 }, () => {
  const flag: FailureFlag = { failed: false };
  const world = useE2eWorld(flag);
  let kube: KubeApiServer;
  let configFile: string;
  let metricsUrl: string;
  let operator: Proc | undefined;

  const call = async (method: string, url: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; body: Json }> => {
    const response = await fetch(`${kube.url}${url}`, { method, headers: { 'content-type': contentType }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };
  const create = async (name: string, metadata: object = {}) => {
    const created = await call('POST', TASKS, { apiVersion: 'scheduling.hourglass.dev/v1alpha1', kind: 'ScheduledTask', metadata: { name, ...metadata }, spec: { type: 'shell', shell: { command: ['true'] } } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    return created.body;
  };
  const get = async (name: string): Promise<Json> => (await call('GET', `${TASKS}/${name}`)).body;
  const ready = (name: string) => waitFor(async () => {
    const object = await get(name);
    return object.status?.conditions?.some((c: Json) => c.type === 'Ready' && c.observedGeneration === object.metadata.generation) ? object : undefined;
  }, 20_000, 100, `${name} to be Ready`);
  const taskRow = async (name: string): Promise<Json | undefined> =>
    (await world.sql.query(`SELECT id::text, deleted_at FROM hg_tasks WHERE namespace = 'default' AND name = $1 ORDER BY created_at DESC LIMIT 1`, [name])).rows[0];
  /** writes to ScheduledTasks (any subresource), by verb and resource, between two counts */
  const taskWrites = (from: RequestCounts, to: RequestCounts): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const [key, n] of Object.entries(to.byResource)) {
      const [verb, resource] = key.split(' ');
      if (!['create', 'update', 'patch', 'delete'].includes(verb as string) || !resource?.startsWith('scheduledtasks')) continue;
      if (n - (from.byResource[key] ?? 0) > 0) out[key] = n - (from.byResource[key] ?? 0);
    }
    return out;
  };
  const metric = async (name: string): Promise<number> => {
    const text = await (await fetch(metricsUrl)).text();
    return Number(new RegExp(`^${name}\\{kind="ScheduledTask"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  };
  const startOperator = async () => {
    operator = startProcess({ name: 'operator', args: ['--mode', 'operator', '--config', configFile], env: backendEnv('postgres', world.db.url, SERVICE_URLS) });
    await operator.waitForLine(/leader work started/, 30_000);
  };
  const stopOperator = async () => {
    operator?.kill('SIGTERM');
    await operator?.waitForExit(15_000);
    operator = undefined;
  };
  /** a manual run of the task, queued (no worker runs here): an active run for a deletion to cancel */
  const activeRun = async (name: string): Promise<string> => {
    await call('PATCH', `${TASKS}/${name}`, { metadata: { annotations: { 'scheduling.hourglass.dev/trigger': 'now' } } }, 'application/merge-patch+json');
    return waitFor(async () => (await world.sql.query(`SELECT r.id::text FROM hg_runs r JOIN hg_tasks t ON t.id = r.task_id WHERE t.name = $1 AND r.status IN ('pending', 'queued')`, [name])).rows[0]?.id, 15_000, 100, `an active run of ${name}`);
  };
  const runStatus = async (id: string): Promise<string> => (await world.sql.query('SELECT status FROM hg_runs WHERE id = $1', [id])).rows[0].status;

  before(tracked(flag, async () => {
    kube = await startKubeApiServer({ log: () => undefined });
    for (const file of Object.values(CRD_FILES)) {
      const created = await call('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', parse(readFileSync(path.join(REPO_ROOT, 'crds', file), 'utf8')));
      assert.equal(created.status, 201);
    }
    await waitFor(async () => (await call('GET', TASKS)).status === 200, 15_000, 100, 'the CRD to be served');
    const kubeconfig = path.join(world.tmp.dir, 'kubeconfig.yaml');
    kube.writeKubeconfig(kubeconfig, 'default');
    const port = await freePort();
    metricsUrl = `http://127.0.0.1:${port}/metrics`;
    configFile = writeTestConfig(world.tmp.dir, uniqueNamespace('opw'), {
      workerEnabled: false,
      extra: ['[operator]', `kubeconfig = "${kubeconfig}"`, 'namespaces = ["default"]', `bind_address = "127.0.0.1:${port}"`, 'lease_namespace = "default"',
        'lease_duration_seconds = 4', 'renew_deadline_seconds = 3', 'retry_period_seconds = 1', 'run_poll_interval_ms = 200', 'run_dispatcher = false'].join('\n'),
    });
    await startOperator();
  }));
  after(async () => {
    await stopOperator().catch(() => undefined);
    await kube?.close();
  });

  it('a new ScheduledTask costs one write, its status: no finalizer is added', tracked(flag, async () => {
    const before = kube.requestCounts();
    await create('one');
    const object = await ready('one');
    await sleep(1500);
    assert.deepEqual(taskWrites(before, kube.requestCounts()), { 'create scheduledtasks': 1, 'patch scheduledtasks/status': 1 }, 'our create, then the operator\'s status write alone');
    assert.equal(object.metadata.finalizers, undefined);
    assert.equal((await taskRow('one'))?.deleted_at, null);
  }));

  it('a relist after 410 Gone writes nothing for unchanged objects and keeps their tasks', tracked(flag, async () => {
    for (let i = 0; i < 20; i++) await create(`same-${i}`);
    for (let i = 0; i < 20; i++) await ready(`same-${i}`);
    await sleep(1000);
    const relists = await metric('hourglass_operator_relists_total');
    const before = kube.requestCounts();
    // a write after the operator's last event, so that its resume is older than the expired history
    await call('POST', '/api/v1/namespaces/default/configmaps', { metadata: { generateName: 'bump-' } });
    kube.expireHistory();
    kube.dropWatches();
    await waitFor(async () => (await metric('hourglass_operator_relists_total')) > relists, 15_000, 100, 'the relist');
    await sleep(1500);
    assert.deepEqual(taskWrites(before, kube.requestCounts()), {});
    for (let i = 0; i < 20; i++) assert.equal((await taskRow(`same-${i}`))?.deleted_at, null, `same-${i} kept`);
  }));

  it('a deletion cancels the active runs and deletes the task at once, with nothing holding the object', tracked(flag, async () => {
    const run = await activeRun('one');
    const deleted = await call('DELETE', `${TASKS}/one`);
    assert.equal(deleted.status, 200);
    assert.equal((await call('GET', `${TASKS}/one`)).status, 404, 'gone at once: no finalizer');
    await waitFor(async () => (await taskRow('one'))?.deleted_at, 10_000, 100, 'the task to be deleted');
    assert.equal(await runStatus(run), 'cancelled');
  }));

  it('an object deleted and created again under its name gets a new task; the old one is deleted', tracked(flag, async () => {
    await create('again');
    const first = (await ready('again')).status.taskId;
    const run = await activeRun('again');
    await call('DELETE', `${TASKS}/again`);
    await create('again');
    const second = await waitFor(async () => {
      const object = await get('again');
      return object.status?.taskId && object.status.taskId !== first ? object.status.taskId : undefined;
    }, 15_000, 100, 'a new task for the new object');
    assert.notEqual(second, first);
    assert.ok((await world.sql.query('SELECT deleted_at FROM hg_tasks WHERE id = $1', [first])).rows[0].deleted_at, 'the old task is deleted');
    assert.equal(await runStatus(run), 'cancelled');
  }));

  it('a task whose object was deleted while no operator ran is deleted at startup; the old finalizer is removed and never blocks a deletion', tracked(flag, async () => {
    await create('gone-while-down');
    await ready('gone-while-down');
    const run = await activeRun('gone-while-down');
    await stopOperator();
    assert.equal((await call('DELETE', `${TASKS}/gone-while-down`)).status, 200);
    // objects written by an older operator, which added its finalizer to every ScheduledTask
    for (const name of ['legacy-a', 'legacy-b', 'legacy-deleted']) await create(name, { finalizers: [TASK_FINALIZER, 'example.com/keep'] });
    await startOperator();
    await waitFor(async () => (await taskRow('gone-while-down'))?.deleted_at, 15_000, 100, 'the orphaned task to be deleted');
    assert.equal(await runStatus(run), 'cancelled');
    await ready('legacy-deleted');
    await call('DELETE', `${TASKS}/legacy-deleted`);
    await waitFor(async () => (await taskRow('legacy-deleted'))?.deleted_at, 10_000, 100, 'the task of a deleted object with the old finalizer');
    for (const name of ['legacy-a', 'legacy-b', 'legacy-deleted']) {
      const finalizers = await waitFor(async () => {
        const object = await get(name);
        return object.metadata.finalizers?.includes(TASK_FINALIZER) ? undefined : object.metadata.finalizers;
      }, 10_000, 100, `the old finalizer to leave ${name}`);
      assert.deepEqual(finalizers, ['example.com/keep'], 'other finalizers are kept');
    }
    assert.ok((await get('legacy-deleted')).metadata.deletionTimestamp, 'held only by the other finalizer now');
  }));
});
