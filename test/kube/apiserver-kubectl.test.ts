import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { kubectlFor } from '../support/kube/kubectl.ts';
import type { Kubectl } from '../support/kube/kubectl.ts';
import { SAMPLE_CRD_YAML } from '../support/kube/sample-crd.ts';
import { startKubeApiServer } from '../support/kube/server.ts';
import type { KubeApiServer } from '../support/kube/server.ts';

/** The real kubectl (1.32 picked by /usr/bin/kubectl from /version) against the in-memory server. */

const REPO = join(import.meta.dirname, '..', '..');

let server: KubeApiServer;
let kubectl: Kubectl;

async function ok(args: string[], input?: string): Promise<string> {
  const result = await kubectl.run(args, input === undefined ? {} : { input });
  assert.equal(result.code, 0, `kubectl ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

async function fails(args: string[], input?: string): Promise<string> {
  const result = await kubectl.run(args, input === undefined ? {} : { input });
  assert.notEqual(result.code, 0, `kubectl ${args.join(' ')} should have failed: ${result.stdout}`);
  return result.stderr;
}

async function namespace(name: string): Promise<string> {
  await ok(['create', 'namespace', name]);
  return name;
}

function task(name: string, extra = ''): string {
  return `apiVersion: sample.hourglass.dev/v1alpha1
kind: SampleTask
metadata:
  name: ${name}
spec:
  type: shell
  schedule: "0 2 * * *"
  shell: { command: [echo, hi] }
${extra}`;
}

describe('kubectl against the in-memory API server', () => {
  before(async () => {
    server = await startKubeApiServer();
    kubectl = kubectlFor(server);
    await ok(['apply', '-f', '-'], SAMPLE_CRD_YAML);
  });

  after(async () => {
    kubectl.cleanup();
    await server.close();
  });

  test('reports a v1.32 server and lists built-in and custom kinds', async () => {
    assert.match(await ok(['version']), /Server Version: v1\.32\./);
    const resources = await ok(['api-resources']);
    for (const line of [/^deployments\s+deploy\s+apps\/v1\s+true\s+Deployment/m, /^leases\s+coordination\.k8s\.io\/v1\s+true\s+Lease/m, /^sampletasks\s+smt\s+sample\.hourglass\.dev\/v1alpha1\s+true\s+SampleTask/m]) {
      assert.match(resources, line);
    }
  });

  test('creates, shows, describes, annotates, scales, watches and deletes a custom resource', async () => {
    const ns = await namespace('life');
    assert.match(await ok(['-n', ns, 'apply', '-f', '-'], task('nightly')), /sampletask.sample.hourglass.dev\/nightly created/);

    const table = await ok(['-n', ns, 'get', 'smt']);
    assert.match(table, /^NAME\s+SCHEDULE\s+SUSPEND\s+DESIRED\s+LAST RESULT\s+AGE$/m);
    assert.match(table, /^nightly\s+0 2 \* \* \*\s+false\s+\d+s$/m, 'absent values print as empty cells');

    const yaml = await ok(['-n', ns, 'get', 'smt', 'nightly', '-o', 'yaml']);
    assert.match(yaml, /concurrencyPolicy: Allow/, 'defaults from the schema are applied');
    assert.match(yaml, /generation: 1/);

    const description = await ok(['-n', ns, 'describe', 'smt', 'nightly']);
    assert.match(description, /^Name:\s+nightly$/m);
    assert.match(description, /^Kind:\s+SampleTask$/m);

    await ok(['-n', ns, 'annotate', 'smt', 'nightly', 'sample.hourglass.dev/trigger=2026-01-01T00:00:00Z']);
    const annotated = JSON.parse(await ok(['-n', ns, 'get', 'smt', 'nightly', '-o', 'json']));
    assert.equal(annotated.metadata.annotations['sample.hourglass.dev/trigger'], '2026-01-01T00:00:00Z');
    assert.equal(annotated.metadata.generation, 1, 'metadata changes do not bump generation');

    assert.match(await ok(['-n', ns, 'scale', 'smt', 'nightly', '--replicas=3']), /scaled/);
    const scaled = JSON.parse(await ok(['-n', ns, 'get', 'smt', 'nightly', '-o', 'json']));
    assert.equal(scaled.spec.replicas.desired, 3);
    assert.equal(scaled.metadata.generation, 2, 'a spec change bumps generation');

    const watcher = kubectl.start(['-n', ns, 'get', 'smt', '-w']);
    try {
      let seen = '';
      const lines = new Promise<void>((resolve) => {
        watcher.stdout.on('data', (chunk: Buffer) => {
          seen += chunk.toString();
          if (/nightly\s+0 2 \* \* \*\s+true/.test(seen)) resolve();
        });
      });
      await new Promise<void>((resolve) => watcher.stdout.once('data', () => resolve()));
      await ok(['-n', ns, 'patch', 'smt', 'nightly', '--type=merge', '-p', '{"spec":{"suspend":true}}']);
      await lines;
      assert.match(seen, /^NAME\s+SCHEDULE/m);
    } finally {
      watcher.kill('SIGKILL');
    }

    assert.match(await ok(['-n', ns, 'delete', 'smt', 'nightly']), /sampletask.sample.hourglass.dev "nightly" deleted/);
    assert.match((await kubectl.run(['-n', ns, 'get', 'smt'])).stderr, /No resources found in life namespace/);
  });

  test('refuses an invalid custom resource naming every bad field', async () => {
    const ns = await namespace('invalid');
    const bad = `apiVersion: sample.hourglass.dev/v1alpha1
kind: SampleTask
metadata: { name: bad }
spec:
  type: http
  schedule: "not a schedule"
  concurrencyPolicy: Sometimes
  priority: 1000
  shell: { command: [echo] }
  replicas: { min: 5, max: 2 }
`;
    const stderr = await fails(['-n', ns, 'apply', '-f', '-'], bad);
    assert.match(stderr, /The SampleTask "bad" is invalid/);
    assert.match(stderr, /spec\.concurrencyPolicy: Unsupported value: "Sometimes": supported values: "Allow", "Forbid", "Replace"/);
    assert.match(stderr, /spec\.priority: Invalid value: 1000: spec\.priority in body should be less than or equal to 100/);
    assert.match(stderr, /spec\.schedule: Invalid value: "not a schedule"/);
    assert.match(stderr, /spec: Invalid value: "object": exactly the block that matches type must be set/);
    assert.match(stderr, /spec\.replicas: Invalid value: "object": replicas\.min must be <= replicas\.max/);
    const unknown = await fails(['-n', ns, 'apply', '-f', '-'], task('typo', '  sheddule: "* * * * *"'));
    assert.match(unknown, /unknown field "spec\.sheddule"/);
  });

  test('applies a Deployment twice with a strategic merge (containers and env merged by name)', async () => {
    const ns = await namespace('deploy');
    const deployment = (image: string, env: string) => `apiVersion: apps/v1
kind: Deployment
metadata: { name: workers, labels: { app: workers } }
spec:
  replicas: 2
  selector: { matchLabels: { app: workers } }
  template:
    metadata: { labels: { app: workers } }
    spec:
      containers:
        - name: worker
          image: ${image}
          env: [${env}]
        - name: sidecar
          image: busybox:1
`;
    await ok(['-n', ns, 'apply', '-f', '-'], deployment('hourglass:1', '{ name: A, value: "1" }, { name: B, value: "2" }'));
    // A change made by someone else (a controller) survives the next apply: a strategic merge, not a replace.
    await ok(['-n', ns, 'patch', 'deployment', 'workers', '--type=strategic', '-p', '{"spec":{"template":{"spec":{"containers":[{"name":"worker","env":[{"name":"INJECTED","value":"yes"}]}]}}}}']);
    assert.match(await ok(['-n', ns, 'apply', '-f', '-'], deployment('hourglass:2', '{ name: A, value: "10" }')), /configured/);
    const applied = JSON.parse(await ok(['-n', ns, 'get', 'deployment', 'workers', '-o', 'json']));
    const [worker, sidecar] = applied.spec.template.spec.containers;
    assert.equal(worker.image, 'hourglass:2');
    assert.deepEqual(worker.env, [{ name: 'A', value: '10' }, { name: 'INJECTED', value: 'yes' }], 'B removed by apply, INJECTED kept');
    assert.equal(sidecar.name, 'sidecar');
    assert.equal(applied.metadata.generation, 3);

    await ok(['-n', ns, 'scale', 'deployment', 'workers', '--replicas=4']);
    assert.equal(JSON.parse(await ok(['-n', ns, 'get', 'deployment', 'workers', '-o', 'json'])).spec.replicas, 4);
    assert.match(await ok(['-n', ns, 'get', 'deployments']), /^workers\s+4\s+/m);
  });

  test('server-side apply creates, updates and drops fields the manager stopped setting', async () => {
    const ns = await namespace('ssa');
    await ok(['-n', ns, 'apply', '--server-side', '-f', '-'], task('ssa', '  priority: 5'));
    await ok(['-n', ns, 'apply', '--server-side', '-f', '-'], task('ssa', '  suspend: true'));
    const object = JSON.parse(await ok(['-n', ns, 'get', 'smt', 'ssa', '-o', 'json', '--show-managed-fields']));
    assert.equal(object.spec.suspend, true);
    assert.equal(object.spec.priority, undefined, 'priority was applied before and no longer is');
    assert.ok(object.metadata.managedFields.some((entry: { manager: string; operation: string }) => entry.manager === 'kubectl' && entry.operation === 'Apply'));
  });

  test('a finalizer holds a deleted object until it is removed', async () => {
    const ns = await namespace('finalizers');
    await ok(['-n', ns, 'apply', '-f', '-'], task('held').replace('  name: held', '  name: held\n  finalizers: [sample.hourglass.dev/cleanup]'));
    await ok(['-n', ns, 'delete', 'smt', 'held', '--wait=false']);
    const held = JSON.parse(await ok(['-n', ns, 'get', 'smt', 'held', '-o', 'json']));
    assert.ok(held.metadata.deletionTimestamp, 'deletionTimestamp is set');
    await ok(['-n', ns, 'patch', 'smt', 'held', '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
    assert.match((await kubectl.run(['-n', ns, 'get', 'smt', 'held'])).stderr, /NotFound|not found/);
  });

  test('describe shows the Events recorded for an object', async () => {
    const ns = await namespace('events');
    await ok(['-n', ns, 'apply', '-f', '-'], task('evented'));
    const uid = (await ok(['-n', ns, 'get', 'smt', 'evented', '-o', 'jsonpath={.metadata.uid}'])).trim();
    await ok(['-n', ns, 'create', '-f', '-'], `apiVersion: v1
kind: Event
metadata: { name: evented.1 }
involvedObject: { apiVersion: sample.hourglass.dev/v1alpha1, kind: SampleTask, name: evented, namespace: ${ns}, uid: ${uid} }
reason: SuccessfulCreate
message: Created run 42
type: Normal
source: { component: hourglass-operator }
firstTimestamp: "2026-01-01T00:00:00Z"
lastTimestamp: "2026-01-01T00:00:00Z"
count: 1
`);
    const description = await ok(['-n', ns, 'describe', 'smt', 'evented']);
    assert.match(description, /Normal\s+SuccessfulCreate\s+.*hourglass-operator\s+Created run 42/);
  });

  test('kubectl create generators (protobuf bodies) and auth can-i work', async () => {
    await ok(['create', 'namespace', 'generators']);
    await ok(['-n', 'generators', 'create', 'secret', 'generic', 'broker', '--from-literal=url=amqp://guest:guest@127.0.0.1:5672']);
    await ok(['-n', 'generators', 'create', 'configmap', 'settings', '--from-literal=level=debug']);
    await ok(['-n', 'generators', 'create', 'serviceaccount', 'operator']);
    const secret = JSON.parse(await ok(['-n', 'generators', 'get', 'secret', 'broker', '-o', 'json']));
    assert.equal(Buffer.from(secret.data.url, 'base64').toString(), 'amqp://guest:guest@127.0.0.1:5672');
    assert.equal(JSON.parse(await ok(['-n', 'generators', 'get', 'configmap', 'settings', '-o', 'json'])).data.level, 'debug');
    assert.equal((await ok(['auth', 'can-i', 'create', 'deployments'])).trim(), 'yes');
  });

  test('applies the generated CRDs and the example manifests', { skip: existsSync(join(REPO, 'crds', 'scheduledtask.yaml')) ? false : 'crds/ has not been generated yet' }, async () => {
    const crdFiles = readdirSync(join(REPO, 'crds')).filter((file) => file.endsWith('.yaml') && file !== 'kustomization.yaml');
    await ok(['apply', ...crdFiles.flatMap((file) => ['-f', join(REPO, 'crds', file)])]);
    const ns = await namespace('examples');
    const examples = join(REPO, 'manifests', 'examples');
    if (existsSync(examples)) {
      const applied = await ok(['-n', ns, 'apply', '-f', examples]);
      assert.match(applied, /created/);
      assert.match(await ok(['-n', ns, 'get', 'st']), /^NAME\s+SCHEDULE\s+TIMEZONE\s+SUSPEND\s+ACTIVE\s+LAST SCHEDULE\s+NEXT\s+LAST RESULT\s+AGE$/m);
    }
  });
});
