import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cycleThrough } from '../../operator/dependency-cycles.ts';
import { DependencyIndex } from '../../operator/dependency-index.ts';
import { kubectlFor, type Kubectl } from '../support/kube/kubectl.ts';
import { startKubeApiServer, type KubeApiServer } from '../support/kube/server.ts';
import { backendEnv, startProcess, tracked, useE2eWorld, waitFor, writeTestConfig, type FailureFlag, type Json } from '../support/processes.ts';
import { SERVICE_URLS, skipUnless, uniqueNamespace } from '../support/services.ts';

describe('dependsOn cycles are found in the desired state (unit)', () => {
  it('finds a cycle through a name, whatever the order of the graph, and none where there is none', () => {
    assert.deepEqual(cycleThrough('a', new Map([['a', ['b']], ['b', ['a']]])), ['a', 'b', 'a']);
    assert.deepEqual(cycleThrough('c', new Map([['a', ['b']], ['b', ['c']], ['c', ['a']]])), ['c', 'a', 'b', 'c']);
    assert.equal(cycleThrough('a', new Map([['a', ['b', 'c']], ['b', ['c']], ['c', []]])), undefined, 'a diamond is no cycle');
    assert.equal(cycleThrough('x', new Map([['x', ['a']], ['a', ['b']], ['b', ['a']]])), undefined, 'a cycle that does not pass through x');
  });

  it('keeps the graph from changes one at a time: neighbours before and after, nodes with edges only, none for a deleted task', () => {
    const index = new DependencyIndex();
    const st = (name: string, dependsOn?: string[], extra: object = {}) => ({ metadata: { name, namespace: 'ns', ...extra }, spec: dependsOn ? { dependsOn } : {} });
    assert.deepEqual(index.update(st('plain')), { related: [], changed: false }, 'a task without dependsOn costs nothing');
    assert.deepEqual(index.update(st('a', ['b'])), { related: ['b'], changed: true });
    assert.deepEqual(index.update(st('b')).related, ['a'], 'a task named by another is related to it');
    assert.deepEqual(index.update(st('a', ['b'])), { related: ['b'], changed: false }, 'a status write changes no edge');
    assert.deepEqual(index.update(st('a', ['c'])), { related: ['b', 'c'], changed: true }, 'the task it no longer names is related too');
    assert.deepEqual([...index.graph('ns')], [['a', ['c']]]);
    assert.deepEqual(index.graph('other').size, 0);
    index.update(st('c', ['a']));
    assert.deepEqual(cycleThrough('a', index.graph('ns')), ['a', 'c', 'a']);
    assert.deepEqual(index.update(st('c', ['a'], { deletionTimestamp: '2026-01-01T00:00:00Z' })), { related: ['a'], changed: true }, 'being deleted drops its edges');
    assert.equal(cycleThrough('a', index.graph('ns')), undefined);
    index.update(st('c', ['a']));
    assert.deepEqual(index.update(st('c', ['a']), true), { related: ['a'], changed: true }, 'a DELETED event drops its edges');
    assert.deepEqual(index.update(st('a'), true), { related: ['c'], changed: true });
    assert.equal(index.graph('ns').size, 0);
  });
});

describe('dependsOn cycles through kubectl (operator process, in-memory API server, Postgres)', { skip: await skipUnless('postgres'), timeout: 120_000 }, () => {
  const flag: FailureFlag = { failed: false };
  const world = useE2eWorld(flag);
  let kube: KubeApiServer;
  let kubectl: Kubectl;
  const kubectlOk = async (args: string[], input?: string): Promise<string> => {
    const result = await kubectl.run(args, input === undefined ? {} : { input });
    assert.equal(result.code, 0, `kubectl ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  };
  const task = (name: string, dependsOn: string[]) =>
    `apiVersion: scheduling.hourglass.dev/v1alpha1\nkind: ScheduledTask\nmetadata: { name: ${name} }\nspec: { type: shell, shell: { command: ["true"] }, dependsOn: ${JSON.stringify(dependsOn)} }\n`;
  const condition = async (name: string, type: string): Promise<Json | undefined> =>
    ((JSON.parse(await kubectlOk(['get', 'st', name, '-o', 'json'])) as Json).status?.conditions ?? []).find((c: Json) => c.type === type);
  const degradedByCycle = (name: string) => waitFor(async () => {
    const degraded = await condition(name, 'Degraded');
    return degraded?.status === 'True' && degraded.reason === 'DependencyCycle' ? degraded : undefined;
  }, 15_000, 200, `${name} to be Degraded/DependencyCycle`);
  const stored = async (names: string[]): Promise<string[]> =>
    (await world.sql.query(`SELECT name FROM hg_tasks WHERE name = ANY($1) AND deleted_at IS NULL ORDER BY name`, [names])).rows.map((r: Json) => r.name);
  /** a cycle among the stored tasks (what the dispatcher acts on), searched in SQL's own data */
  const storedCycles = async (): Promise<string[]> => {
    const { rows } = await world.sql.query(`SELECT name, ARRAY(SELECT jsonb_array_elements_text(spec -> 'dependsOn')) AS deps FROM hg_tasks WHERE deleted_at IS NULL`);
    const graph = new Map<string, string[]>(rows.map((r: Json) => [r.name, r.deps]));
    return [...graph.keys()].filter((name) => cycleThrough(name, graph));
  };

  before(tracked(flag, async () => {
    kube = await startKubeApiServer({ log: () => undefined });
    kubectl = kubectlFor(kube);
    await kubectlOk(['apply', '-f', 'crds/']);
    await waitFor(async () => (await kubectl.run(['get', 'st'])).code === 0, 15_000, 200, 'the CRDs to be served');
    const kubeconfig = path.join(world.tmp.dir, 'kubeconfig');
    kube.writeKubeconfig(kubeconfig, 'default');
    const config = writeTestConfig(world.tmp.dir, uniqueNamespace('deps'), {
      workerEnabled: false,
      extra: ['[operator]', `kubeconfig = "${kubeconfig}"`, 'namespaces = ["default"]', 'bind_address = "127.0.0.1:0"', 'lease_namespace = "default"', 'run_dispatcher = false', 'reconcile_workers = 4'].join('\n'),
    });
    const operator = startProcess({ name: 'operator', args: ['--mode', 'operator', '--config', config], env: backendEnv('postgres', world.db.url, SERVICE_URLS) });
    await operator.waitForLine(/leader work started/, 30_000);
  }));
  after(async () => {
    kubectl?.cleanup();
    await kube?.close();
  });

  it('two tasks naming each other, applied in one file, are both Degraded and neither is stored', tracked(flag, async () => {
    await kubectlOk(['apply', '-f', '-'], `${task('ping', ['pong'])}---\n${task('pong', ['ping'])}`);
    const degraded = await degradedByCycle('ping');
    assert.match(degraded.message, /ping -> pong -> ping/);
    await degradedByCycle('pong');
    assert.deepEqual(await stored(['ping', 'pong']), []);
  }));

  it('a three-task cycle in reverse order, in one file, is refused the same way', tracked(flag, async () => {
    await kubectlOk(['apply', '-f', '-'], [task('c3', ['a3']), task('b3', ['c3']), task('a3', ['b3'])].join('---\n'));
    for (const name of ['a3', 'b3', 'c3']) await degradedByCycle(name);
    // kubectl creates the three one after another: the operator may store c3 and b3 before a3 exists (no
    // cycle yet), but never the task that closes the cycle, so what is stored never holds one
    assert.ok((await stored(['a3', 'b3', 'c3'])).length < 3, 'all three members of the cycle were stored');
    assert.deepEqual(await storedCycles(), []);
  }));

  it('applied one at a time, the task that closes the cycle is refused, and the one already stored turns Degraded too', tracked(flag, async () => {
    await kubectlOk(['apply', '-f', '-'], task('first', ['second']));
    await waitFor(async () => (await condition('first', 'Ready'))?.status === 'True', 15_000, 200, 'first to be Ready');
    await kubectlOk(['apply', '-f', '-'], task('second', ['first']));
    await degradedByCycle('second');
    await degradedByCycle('first');
    assert.deepEqual(await stored(['first', 'second']), ['first'], 'the closing task is never stored');
    assert.deepEqual(await storedCycles(), []);
    // breaking the cycle clears both
    await kubectlOk(['apply', '-f', '-'], task('second', []));
    for (const name of ['first', 'second']) {
      await waitFor(async () => (await condition(name, 'Degraded'))?.status !== 'True', 15_000, 200, `${name} to recover`);
    }
    assert.deepEqual(await stored(['first', 'second']), ['first', 'second']);
  }));
});
