import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { eventName } from '../../operator/event-recorder.ts';
import { kubectlFor, type Kubectl } from '../support/kube/kubectl.ts';
import { startKubeApiServer, type KubeApiServer } from '../support/kube/server.ts';
import { backendEnv, startProcess, tracked, useE2eWorld, waitFor, writeTestConfig, type FailureFlag, type Json } from '../support/processes.ts';
import { SERVICE_URLS, skipUnless, uniqueNamespace } from '../support/services.ts';

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

describe('Event names (unit)', () => {
  it('are valid DNS subdomains of at most 253 characters whatever the object name, and stable per series', () => {
    const object = (name: string) => ({ kind: 'ScheduledTask', metadata: { name, namespace: 'ns', uid: 'u1' } });
    const event = { type: 'Normal' as const, reason: 'SuccessfulCreate', message: 'Created a run on schedule' };
    for (const name of ['a', 'x'.repeat(253), `${'a.'.repeat(120)}b-`.replace(/-$/, ''), `${'a'.repeat(236)}-${'b'.repeat(16)}`]) {
      const made = eventName(object(name), event);
      assert.ok(made.length <= 253, `${made.length} characters`);
      assert.match(made, DNS_SUBDOMAIN);
    }
    assert.equal(eventName(object('t'), event), eventName(object('t'), event), 'the same series, the same name');
    assert.notEqual(eventName(object('t'), event), eventName(object('t'), { ...event, message: 'other' }));
  });
});

describe('ScheduledTask and WorkerPool status as kubectl shows it', { skip: await skipUnless('postgres'), timeout: 120_000 }, () => {
  const flag: FailureFlag = { failed: false };
  const world = useE2eWorld(flag);
  let kube: KubeApiServer;
  let kubectl: Kubectl;
  const kubectlOk = async (args: string[], input?: string): Promise<string> => {
    const result = await kubectl.run(args, input === undefined ? {} : { input });
    assert.equal(result.code, 0, `kubectl ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  };
  const getJson = async (resource: string): Promise<Json> => JSON.parse(await kubectlOk(['get', resource, '-o', 'json']));
  const task = (name: string, spec: string) => `apiVersion: scheduling.hourglass.dev/v1alpha1\nkind: ScheduledTask\nmetadata: { name: ${name} }\nspec: ${spec}\n`;

  before(tracked(flag, async () => {
    kube = await startKubeApiServer({ log: () => undefined });
    kubectl = kubectlFor(kube);
    await kubectlOk(['apply', '-f', 'crds/']);
    await waitFor(async () => (await kubectl.run(['get', 'st'])).code === 0, 15_000, 200, 'the CRDs to be served');
    const kubeconfig = path.join(world.tmp.dir, 'kubeconfig');
    kube.writeKubeconfig(kubeconfig, 'default');
    const config = writeTestConfig(world.tmp.dir, uniqueNamespace('status'), {
      workerEnabled: false,
      extra: ['[operator]', `kubeconfig = "${kubeconfig}"`, 'namespaces = ["default"]', 'bind_address = "127.0.0.1:0"', 'lease_namespace = "default"', 'run_poll_interval_ms = 250', 'pool_resync_seconds = 1'].join('\n'),
    });
    const operator = startProcess({ name: 'operator', args: ['--mode', 'operator', '--config', config], env: backendEnv('postgres', world.db.url, SERVICE_URLS) });
    await operator.waitForLine(/leader work started/, 30_000);
  }));
  after(async () => {
    kubectl?.cleanup();
    await kube?.close();
  });

  it('refuses a name longer than 63 characters at apply time, naming the field', tracked(flag, async () => {
    const result = await kubectl.run(['apply', '-f', '-'], { input: task('n'.repeat(64), '{ type: shell, shell: { command: ["true"] } }') });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /metadata\.name must be at most 63 characters/);
    await kubectlOk(['apply', '-f', '-'], task('n'.repeat(63), '{ type: shell, shell: { command: ["true"] } }'));
  }));

  it('shows TimeZone and Active columns, and keeps lastScheduleTime when the schedule is edited', tracked(flag, async () => {
    // the run never finishes (no worker serves the pool), so it stays active
    await kubectlOk(['apply', '-f', '-'], task('ticker', '{ type: shell, shell: { command: ["true"] }, schedule: "@every 1s", timeZone: "Europe/Paris", pool: nowhere, concurrencyPolicy: Forbid }'));
    const row = await waitFor(async () => {
      const lines = (await kubectlOk(['get', 'st', 'ticker'])).trim().split('\n');
      const header = lines[0]!.split(/\s{2,}/);
      const cells = lines[1]!.split(/\s{2,}/);
      return cells[header.indexOf('ACTIVE')] === '1' ? { header, cells } : undefined;
    }, 20_000, 250, 'ACTIVE 1');
    assert.deepEqual(row.header, ['NAME', 'SCHEDULE', 'TIMEZONE', 'SUSPEND', 'ACTIVE', 'LAST SCHEDULE', 'NEXT', 'LAST RESULT', 'AGE']);
    assert.equal(row.cells[row.header.indexOf('TIMEZONE')], 'Europe/Paris');
    const before = (await getJson('st/ticker')).status.lastScheduleTime as string;
    assert.ok(before, 'a slot was scheduled');
    await kubectlOk(['patch', 'st', 'ticker', '--type=merge', '-p', '{"spec":{"schedule":"0 0 1 1 *"}}']);
    const edited = await waitFor(async () => {
      const st = await getJson('st/ticker');
      return st.status?.observedGeneration === st.metadata.generation ? st : undefined;
    }, 15_000, 200, 'the edit to be reconciled');
    assert.ok(edited.status.lastScheduleTime >= before, `lastScheduleTime kept across the edit (was ${before}, now ${edited.status.lastScheduleTime})`);
    assert.match(edited.status.nextScheduleTime, /-12-31T23:00:00/, 'midnight on 1 January in Paris');
  }));

  it('refuses kubectl scale beyond spec.replicas.max with a message that says why', tracked(flag, async () => {
    await kubectlOk(['apply', '-f', '-'], 'apiVersion: scheduling.hourglass.dev/v1alpha1\nkind: WorkerPool\nmetadata: { name: small }\nspec: { replicas: { min: 0, max: 3 } }\n');
    const refused = await kubectl.run(['scale', 'wp', 'small', '--replicas=50']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /spec\.replicas\.desired \(kubectl scale --replicas\) must be <= spec\.replicas\.max/);
    assert.equal((await getJson('wp/small')).spec.replicas.desired, undefined, 'nothing was stored');
    await kubectlOk(['scale', 'wp', 'small', '--replicas=3']);
    await waitFor(async () => (await kubectl.run(['get', 'deployment', 'small-workers', '-o', 'jsonpath={.spec.replicas}'])).stdout === '3', 15_000, 250, 'the Deployment at 3');
  }));
});
