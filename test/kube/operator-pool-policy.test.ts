import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { kubectlFor, type Kubectl } from '../support/kube/kubectl.ts';
import { startKubeApiServer, type KubeApiServer } from '../support/kube/server.ts';
import { backendEnv, startProcess, tracked, useE2eWorld, waitFor, writeTestConfig, type FailureFlag, type Json } from '../support/processes.ts';
import { SERVICE_URLS, skipUnless, uniqueNamespace } from '../support/services.ts';

/**
 * A WorkerPool is a Deployment the operator makes with its own rights: what a pool may ask for is bounded
 * by the operator's configuration, worker pods are locked down, and pools belong to one namespace.
 * Each case plays what a namespace tenant with write access to WorkerPools/ScheduledTasks would try.
 */
describe('WorkerPool bounds and worker pod hardening (kubectl, operator process)', { skip: await skipUnless('postgres'), timeout: 120_000 }, () => {
  const flag: FailureFlag = { failed: false };
  const world = useE2eWorld(flag);
  let kube: KubeApiServer;
  let kubectl: Kubectl;
  const kubectlOk = async (args: string[], input?: string): Promise<string> => {
    const result = await kubectl.run(args, input === undefined ? {} : { input });
    assert.equal(result.code, 0, `kubectl ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  };
  const getJson = async (resource: string, namespace = 'default'): Promise<Json> => JSON.parse(await kubectlOk(['get', '-n', namespace, resource, '-o', 'json']));
  const pool = (name: string, spec: string, namespace = 'default') =>
    `apiVersion: scheduling.hourglass.dev/v1alpha1\nkind: WorkerPool\nmetadata: { name: ${name}, namespace: ${namespace} }\nspec: ${spec}\n`;
  const condition = (object: Json, type: string): Json | undefined => (object.status?.conditions ?? []).find((c: Json) => c.type === type);
  const degraded = (name: string, reason: string, namespace = 'default') => waitFor(async () => {
    const found = condition(await getJson(`wp/${name}`, namespace), 'Degraded');
    return found?.status === 'True' && found.reason === reason ? found : undefined;
  }, 15_000, 200, `wp/${name} to be Degraded/${reason}`);
  const deploymentExists = async (name: string, namespace = 'default') => (await kubectl.run(['get', '-n', namespace, 'deployment', `${name}-workers`])).code === 0;

  before(tracked(flag, async () => {
    kube = await startKubeApiServer({ log: () => undefined });
    kubectl = kubectlFor(kube);
    await kubectlOk(['apply', '-f', 'crds/']);
    await kubectlOk(['create', 'namespace', 'team-b']);
    await waitFor(async () => (await kubectl.run(['get', 'st'])).code === 0, 15_000, 200, 'the CRDs to be served');
    const kubeconfig = path.join(world.tmp.dir, 'kubeconfig');
    kube.writeKubeconfig(kubeconfig, 'default');
    const config = writeTestConfig(world.tmp.dir, uniqueNamespace('policy'), {
      workerEnabled: false,
      extra: [
        '[operator]', `kubeconfig = "${kubeconfig}"`, 'bind_address = "127.0.0.1:0"', 'lease_namespace = "default"', 'run_dispatcher = false', 'pool_resync_seconds = 1',
        'worker_image = "hourglass:1.4.0"', 'allowed_worker_images = ["registry.example/hourglass:*"]', 'allowed_env_secrets = ["smtp"]',
      ].join('\n'),
    });
    const operator = startProcess({ name: 'operator', args: ['--mode', 'operator', '--config', config], env: backendEnv('postgres', world.db.url, SERVICE_URLS) });
    await operator.waitForLine(/leader work started/, 30_000);
  }));
  after(async () => {
    kubectl?.cleanup();
    await kube?.close();
  });

  it('worker pods run non-root, read-only, without capabilities or a service-account token, and have a readiness probe', tracked(flag, async () => {
    await kubectlOk(['apply', '-f', '-'], pool('plain', '{ replicas: { min: 1, max: 2 }, template: { image: "registry.example/hourglass:1.4.0", env: [{ name: SMTP_PASSWORD, valueFrom: { secretKeyRef: { name: smtp, key: password } } }] } }'));
    const deployment = await waitFor(async () => (await deploymentExists('plain')) && getJson('deployment/plain-workers'), 15_000, 200, 'the Deployment of plain');
    const podSpec = deployment.spec.template.spec;
    const container = podSpec.containers[0];
    assert.equal(podSpec.automountServiceAccountToken, false);
    assert.equal(podSpec.securityContext.runAsNonRoot, true);
    assert.equal(podSpec.securityContext.seccompProfile.type, 'RuntimeDefault');
    assert.deepEqual(container.securityContext.capabilities, { drop: ['ALL'] });
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    assert.equal(container.securityContext.allowPrivilegeEscalation, false);
    assert.deepEqual(container.volumeMounts, [{ name: 'tmp', mountPath: '/tmp' }], 'tasks write to an emptyDir /tmp');
    assert.equal(container.readinessProbe.httpGet.path, '/ready');
    assert.equal(container.image, 'registry.example/hourglass:1.4.0', 'an allowed image');
    assert.equal(condition(await getJson('wp/plain'), 'Degraded')?.status, 'False');
    const policy = await waitFor(async () => (await kubectl.run(['get', 'networkpolicy', 'plain-workers'])).code === 0 && getJson('networkpolicy/plain-workers'), 15_000, 200, 'the NetworkPolicy of plain');
    assert.deepEqual(policy.spec.podSelector.matchLabels, deployment.spec.selector.matchLabels, 'it selects the pool\'s worker pods');
    assert.deepEqual(policy.spec.ingress.map((rule: Json) => rule.ports), [[{ protocol: 'TCP', port: 8080 }]], 'only the metrics port is reachable');
    assert.equal(policy.metadata.ownerReferences[0].kind, 'WorkerPool', 'deleted with the pool');
  }));

  it('refuses an image outside the allowed list, naming the field, and creates no Deployment', tracked(flag, async () => {
    await kubectlOk(['apply', '-f', '-'], pool('evil-image', '{ template: { image: "attacker.example/miner:latest" } }'));
    const found = await degraded('evil-image', 'PolicyViolation');
    assert.match(found.message, /spec\.template\.image "attacker\.example\/miner:latest" is not allowed/);
    assert.equal(condition(await getJson('wp/evil-image'), 'Ready')?.status, 'False');
    assert.equal(await deploymentExists('evil-image'), false);
  }));

  it('refuses a secretKeyRef to a Secret that is not allowed, and control-plane tolerations and nodeSelector', tracked(flag, async () => {
    await kubectlOk(['apply', '-f', '-'], pool('steal', '{ template: { env: [{ name: X, valueFrom: { secretKeyRef: { name: db-admin, key: password } } }] } }'));
    assert.match((await degraded('steal', 'PolicyViolation')).message, /env\[0\]\.valueFrom\.secretKeyRef names Secret "db-admin"/);
    await kubectlOk(['apply', '-f', '-'], pool('masters', '{ template: { tolerations: [{ key: node-role.kubernetes.io/control-plane, operator: Exists, effect: NoSchedule }], nodeSelector: { node-role.kubernetes.io/control-plane: "" } } }'));
    const found = await degraded('masters', 'PolicyViolation');
    assert.match(found.message, /tolerations\[0\] tolerates control-plane taints/);
    assert.match(found.message, /nodeSelector selects control-plane nodes/);
    assert.equal(await deploymentExists('steal') || await deploymentExists('masters'), false);
  }));

  it('a pool name belongs to one namespace, and a task cannot use the pool of another namespace', tracked(flag, async () => {
    await kubectlOk(['apply', '-f', '-'], pool('plain', '{ replicas: { min: 0, max: 1 } }', 'team-b'));
    assert.match((await degraded('plain', 'PoolNameTaken', 'team-b')).message, /already used in namespace default/);
    assert.equal(await deploymentExists('plain', 'team-b'), false);
    await kubectlOk(['apply', '-n', 'team-b', '-f', '-'], 'apiVersion: scheduling.hourglass.dev/v1alpha1\nkind: ScheduledTask\nmetadata: { name: borrow }\nspec: { type: shell, shell: { command: ["id"] }, pool: plain }\n');
    const st = await waitFor(async () => {
      const object = await getJson('st/borrow', 'team-b');
      return condition(object, 'Degraded')?.status === 'True' ? object : undefined;
    }, 15_000, 200, 'st/borrow to be Degraded');
    assert.equal(condition(st, 'Degraded')?.reason, 'PoolInOtherNamespace');
    assert.equal((await world.sql.query(`SELECT 1 FROM hg_tasks WHERE namespace = 'team-b' AND name = 'borrow'`)).rowCount, 0, 'never stored');
  }));
});
