import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { API_EXTENSION, resolveTarget, taskName } from '../../cli/kubectl-plugin/target.ts';
import { kubectlFor, type Kubectl } from '../support/kube/kubectl.ts';
import { startKubeApiServer, type KubeApiServer } from '../support/kube/server.ts';
import {
  REPO_ROOT, backendEnv, startAllInOne, startProcess, tracked, useE2eWorld, waitFor, writeTestConfig, type FailureFlag,
} from '../support/processes.ts';
import { SERVICE_URLS, skipUnless, uniqueNamespace } from '../support/services.ts';

const PLUGIN = path.join(REPO_ROOT, 'cli', 'bin', 'kubectl-hourglass.ts');

describe('kubectl-hourglass target (unit)', () => {
  it('reads the API URL from the context cluster\'s extension, the namespace from the context; flags and env win', () => {
    const dir = path.join(process.env.TMPDIR ?? '/tmp', `hg-plugin-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'kubeconfig');
    writeFileSync(file, stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'prod',
      clusters: [{ name: 'c1', cluster: { server: 'https://k8s.example:6443', extensions: [{ name: API_EXTENSION, extension: { url: 'https://hourglass.example' } }] } }],
      contexts: [{ name: 'prod', context: { cluster: 'c1', user: 'u', namespace: 'team-a' } }, { name: 'bare', context: { cluster: 'c1', user: 'u' } }],
      users: [{ name: 'u', user: { token: 't' } }],
    }));
    assert.deepEqual(resolveTarget({ kubeconfig: file }, {}), { apiUrl: 'https://hourglass.example', apiKey: undefined, namespace: 'team-a', source: `the ${API_EXTENSION} extension of cluster c1` });
    assert.equal(resolveTarget({ kubeconfig: file, context: 'bare' }, {}).namespace, 'default');
    assert.equal(resolveTarget({ kubeconfig: file, namespace: 'x' }, {}).namespace, 'x');
    assert.equal(resolveTarget({ kubeconfig: file }, { HOURGLASS_API_URL: 'http://env' }).apiUrl, 'http://env');
    assert.equal(resolveTarget({ kubeconfig: file, apiUrl: 'http://flag' }, { HOURGLASS_API_URL: 'http://env', HOURGLASS_API_KEY: 'k' }).apiKey, 'k');
    assert.equal(taskName('st/nightly'), 'nightly');
    assert.equal(taskName('scheduledtasks.scheduling.hourglass.dev/nightly'), 'nightly');
    assert.throws(() => taskName('deployment/nightly'), /not a ScheduledTask: use st\/NAME/);
  });
});

describe('kubectl hourglass (the real kubectl\'s plugin discovery, REST API, operator)', { skip: await skipUnless('postgres'), timeout: 180_000 }, () => {
  const flag: FailureFlag = { failed: false };
  const world = useE2eWorld(flag);
  let kube: KubeApiServer;
  let kubectl: Kubectl;
  let kubeconfig: string;
  let bin: string;

  /** kubectl with the plugin's directory on PATH (node 24 first, for the plugin's .ts shebang) */
  const kubectlPlugin = (args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      const child = spawn('kubectl', args, {
        env: { ...process.env, PATH: `${bin}:${path.dirname(process.execPath)}:${process.env.PATH}`, KUBECONFIG: kubeconfig, HOME: world.tmp.dir, HOURGLASS_API_URL: '', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  const ok = async (args: string[]): Promise<string> => {
    const result = await kubectlPlugin(args);
    assert.equal(result.code, 0, `kubectl ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  };

  before(tracked(flag, async () => {
    bin = path.join(world.tmp.dir, 'bin');
    mkdirSync(bin);
    symlinkSync(PLUGIN, path.join(bin, 'kubectl-hourglass'));
    kube = await startKubeApiServer({ log: () => undefined });
    kubectl = kubectlFor(kube, 'team-a');
    const operatorKubeconfig = path.join(world.tmp.dir, 'operator-kubeconfig');
    kube.writeKubeconfig(operatorKubeconfig, 'team-a');
    const config = writeTestConfig(world.tmp.dir, uniqueNamespace('plugin'), {
      extra: ['[operator]', `kubeconfig = "${operatorKubeconfig}"`, 'namespaces = ["team-a"]', 'bind_address = "127.0.0.1:0"', 'lease_namespace = "team-a"', 'run_dispatcher = false', 'run_poll_interval_ms = 250'].join('\n'),
    });
    const { proc } = await startAllInOne(world, 'postgres', config);
    const apiUrl = /http:\/\/127\.0\.0\.1:\d+/.exec(await proc.waitForLine(/API listening/))?.[0] ?? '';
    // the user's kubeconfig: the in-memory cluster, namespace team-a, and where its Hourglass API is
    const parsed = (await import('yaml')).parse(kube.kubeconfig('team-a'));
    parsed.clusters[0].cluster.extensions = [{ name: API_EXTENSION, extension: { url: apiUrl } }];
    kubeconfig = path.join(world.tmp.dir, 'kubeconfig');
    writeFileSync(kubeconfig, stringify(parsed), { mode: 0o600 });
    assert.ok(apiUrl.startsWith('http://127.0.0.1:'), `the API URL (${apiUrl})`);
    await kubectl.run(['create', 'namespace', 'team-a']);
    await kubectl.run(['apply', '-f', 'crds/']);
    await waitFor(async () => (await kubectl.run(['get', 'st'])).code === 0, 15_000, 200, 'the CRDs to be served');
    startProcess({ name: 'operator', args: ['--mode', 'operator', '--config', config], env: backendEnv('postgres', world.db.url, SERVICE_URLS) });
    await kubectl.run(['apply', '-f', '-'], { input: 'apiVersion: scheduling.hourglass.dev/v1alpha1\nkind: ScheduledTask\nmetadata: { name: greet }\nspec: { type: shell, shell: { command: ["sh", "-c", "echo hello; sleep 1; echo bye"] } }\n' });
    await waitFor(async () => JSON.parse((await kubectl.run(['get', 'st', 'greet', '-o', 'json'])).stdout).status?.taskId, 20_000, 200, 'st/greet to be registered');
  }));
  after(async () => {
    kubectl?.cleanup();
    await kube?.close();
  });

  it('kubectl plugin list finds it on the PATH', tracked(flag, async () => {
    const listed = await kubectlPlugin(['plugin', 'list']);
    assert.match(listed.stdout, /kubectl-hourglass/);
  }));

  it('trigger st/NAME starts a run in the kubeconfig\'s namespace; runs lists it; logs -f follows it to the end', tracked(flag, async () => {
    const triggered = await ok(['hourglass', 'trigger', 'st/greet']);
    const id = /^run (\d+) of team-a\/greet created/.exec(triggered)?.[1];
    assert.ok(id, triggered);
    const followed = await ok(['hourglass', 'logs', id, '-f']);
    assert.equal(followed, 'hello\nbye\n');
    const runs = (await ok(['hourglass', 'runs', 'st/greet'])).trim().split('\n');
    assert.deepEqual(runs[0]!.split(/\s{2,}/), ['RUN', 'STATUS', 'TRIGGER', 'SHARD', 'SCHEDULED', 'FINISHED']);
    assert.deepEqual(runs[1]!.split(/\s{2,}/).slice(0, 3), [id, 'succeeded', 'manual']);
    assert.equal(await ok(['hourglass', 'logs', id]), 'hello\nbye\n');
    const json = JSON.parse(await ok(['hourglass', 'runs', 'greet', '-o', 'json']));
    assert.equal(json[0].id, id);
  }));

  it('says where to put the API URL when it has none, and names a task of another namespace as not found', tracked(flag, async () => {
    const bare = path.join(world.tmp.dir, 'bare-kubeconfig');
    kube.writeKubeconfig(bare, 'team-a');
    const missing = await kubectlPlugin(['hourglass', 'runs', 'st/greet'], { KUBECONFIG: bare });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no Hourglass API URL: pass --api-url, set HOURGLASS_API_URL, or add to cluster/);
    const elsewhere = await kubectlPlugin(['hourglass', 'runs', 'st/greet', '-n', 'team-b']);
    assert.notEqual(elsewhere.code, 0);
    assert.match(elsewhere.stderr, /not found/);
  }));
});
