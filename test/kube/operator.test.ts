import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { CRD_FILES } from '../../operator/crds.ts';
import {
  REPO_ROOT, backendEnv, sleep, startProcess, tracked, useE2eWorld, waitFor, writeTestConfig, type FailureFlag, type Json, type Proc,
} from '../support/processes.ts';
import { SERVICE_URLS, skipUnless, uniqueNamespace } from '../support/services.ts';
import { startKubeApiServer, type KubeApiServer } from '../support/kube/server.ts';

/**
 * The operator end to end: real kubectl against the in-memory API server, the operator as child processes
 * (two replicas on one Lease), a fresh Postgres database, and a real worker process standing in for the
 * pods of the worker Deployment (nothing runs pods here).
 */

const KUBECTL = '/usr/bin/kubectl';

interface KubectlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('operator end to end (kubectl, in-memory API server, Postgres, real worker)', { skip: await skipUnless('postgres'), timeout: 240_000 }, () => {
  const flag: FailureFlag = { failed: false };
  const world = useE2eWorld(flag, { cleanup: () => undefined });
  let kube: KubeApiServer;
  let kubeconfig: string;
  let configFile: string;
  const operators: Proc[] = [];
  const env = () => backendEnv('postgres', world.db.url, SERVICE_URLS);

  const kubectl = (args: string[], input?: string): Promise<KubectlResult> =>
    new Promise((resolve) => {
      const child = spawn(KUBECTL, ['--kubeconfig', kubeconfig, '--cache-dir', path.join(world.tmp.dir, 'kube-cache'), ...args], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
      child.stdin.end(input ?? '');
    });
  const kubectlOk = async (args: string[], input?: string): Promise<string> => {
    const result = await kubectl(args, input);
    assert.equal(result.code, 0, `kubectl ${args.join(' ')} failed: ${result.stderr}`);
    return result.stdout;
  };
  const getJson = async (resource: string): Promise<Json> => JSON.parse(await kubectlOk(['get', resource, '-o', 'json']));
  const condition = (object: Json, type: string): Json => (object.status?.conditions ?? []).find((c: Json) => c.type === type);
  const task = (name: string, spec: string) => `apiVersion: scheduling.hourglass.dev/v1alpha1
kind: ScheduledTask
metadata:
  name: ${name}
spec:
${spec.trim().split('\n').map((line) => `  ${line}`).join('\n')}
`;
  const runsOf = async (name: string, where = 'true'): Promise<Json[]> =>
    (await world.sql.query(`SELECT r.* FROM hg_runs r JOIN hg_tasks t ON t.id = r.task_id WHERE t.namespace = 'default' AND t.name = $1 AND ${where} ORDER BY r.id`, [name])).rows;
  const leader = (): Proc | undefined => operators.find((p) => !p.exited && p.lines.some((l) => l.includes('became the operator leader')) && !p.lines.some((l) => l.includes('no longer the operator leader')));
  const healthUrl = async (proc: Proc): Promise<string> => JSON.parse(await proc.waitForLine(/operator started/, 30_000)).health;
  const metric = async (proc: Proc, name: string): Promise<number> => {
    const text = await (await fetch(`${await healthUrl(proc)}/metrics`)).text();
    return text.split('\n').filter((line) => line.startsWith(name)).reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
  };

  before(tracked(flag, async () => {
    kube = await startKubeApiServer({ log: () => undefined });
    kubeconfig = path.join(world.tmp.dir, 'kubeconfig.yaml');
    kube.writeKubeconfig(kubeconfig, 'default');
    configFile = writeTestConfig(world.tmp.dir, uniqueNamespace('op'), {
      workerEnabled: false,
      extra: [
        '[operator]',
        `kubeconfig = "${kubeconfig}"`,
        'namespaces = ["default"]',
        'bind_address = "127.0.0.1:0"',
        'lease_namespace = "default"',
        'lease_duration_seconds = 4',
        'renew_deadline_seconds = 3',
        'retry_period_seconds = 1',
        'pool_resync_seconds = 1',
        'run_poll_interval_ms = 250',
        'resync_seconds = 60',
      ].join('\n'),
    });
  }));
  after(async () => {
    await kube?.close();
  });

  it('kubectl applies the generated CRDs and every example, with schema defaults filled in', tracked(flag, async () => {
    const applied = await kubectlOk(['apply', '-f', 'crds/']);
    for (const file of Object.values(CRD_FILES)) assert.match(applied, new RegExp(`${file.replace('.yaml', '')}s\\.scheduling\\.hourglass\\.dev`));
    await waitFor(async () => (await kubectl(['apply', '-f', 'manifests/examples/'])).code === 0, 15_000, 500, 'the examples to apply');
    const hello = await getJson('st/hello');
    assert.equal(hello.spec.concurrencyPolicy, 'Forbid');
    assert.equal(hello.spec.catchUp, 'Latest', 'defaulted by the CRD schema');
    assert.equal(hello.spec.retry.backoff.factor, 2, 'nested defaults too');
    const pool = await getJson('wp/default');
    assert.deepEqual(pool.spec.replicas, { min: 1, max: 10 });
  }));

  it('refuses through CEL a task whose block does not match its type, naming the field', tracked(flag, async () => {
    const result = await kubectl(['apply', '-f', '-'], task('mismatch', 'type: shell\nhttp: { url: "http://127.0.0.1:1/" }'));
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /spec\.shell is required when type is shell|spec\.http must not be set unless type is http/);
    const pool = await kubectl(['apply', '-f', '-'], 'apiVersion: scheduling.hourglass.dev/v1alpha1\nkind: WorkerPool\nmetadata: { name: upside-down }\nspec: { replicas: { min: 5, max: 2 } }\n');
    assert.notEqual(pool.code, 0);
    assert.match(pool.stderr, /spec\.replicas\.min must be <= spec\.replicas\.max/);
  }));

  it('the elected operator creates the worker Deployment of the pool, owned by the WorkerPool', tracked(flag, async () => {
    for (const name of ['operator-a', 'operator-b']) {
      operators.push(startProcess({ name, args: ['--mode', 'operator', '--config', configFile], env: env() }));
    }
    await waitFor(() => leader(), 30_000, 200, 'an operator to take the Lease');
    const deployment = await waitFor(async () => {
      const result = await kubectl(['get', 'deployment', 'default-workers', '-o', 'json']);
      return result.code === 0 ? (JSON.parse(result.stdout) as Json) : undefined;
    }, 20_000, 300, 'the worker Deployment');
    const container = deployment.spec.template.spec.containers[0];
    assert.deepEqual(container.args, ['--mode', 'worker', '--pool', 'default']);
    assert.deepEqual(container.envFrom, [{ secretRef: { name: 'scheduler-worker-secrets' } }]);
    assert.equal(deployment.spec.replicas, 1, 'replicas.min with no backlog');
    assert.equal(deployment.metadata.ownerReferences[0].kind, 'WorkerPool');
    assert.equal(deployment.metadata.ownerReferences[0].uid, (await getJson('wp/default')).metadata.uid);
    const standby = operators.find((p) => p !== leader()) as Proc;
    const ready = await fetch(`${await healthUrl(standby)}/ready`);
    assert.equal(ready.status, 200, 'a standby is ready: it can take over');
    assert.equal(((await ready.json()) as Json).leader, false);
  }));

  it('runs fire, execute on a real worker and land in Postgres; kubectl get st shows Last Result and Next', tracked(flag, async () => {
    startProcess({ name: 'worker', args: ['--mode', 'worker', '--pool', 'default', '--config', configFile], env: env() });
    await kubectlOk(['apply', '-f', '-'], task('tick', 'type: shell\nshell: { command: ["sh", "-c", "echo tick"] }\nschedule: "@every 2s"\ntimeoutSeconds: 30'));
    await waitFor(async () => (await runsOf('tick', "r.status = 'succeeded'")).length >= 2, 30_000, 300, 'two successful runs of tick');
    const row = await waitFor(async () => {
      const table = (await kubectlOk(['get', 'st', 'tick'])).trim().split('\n');
      const cells = table[1]?.split(/\s{2,}/) ?? [];
      return cells.includes('Succeeded') ? { header: table[0]!.split(/\s{2,}/), cells } : undefined;
    }, 20_000, 300, 'kubectl get st to show Last Result');
    assert.deepEqual(row.header, ['NAME', 'SCHEDULE', 'TIMEZONE', 'SUSPEND', 'ACTIVE', 'LAST SCHEDULE', 'NEXT', 'LAST RESULT', 'AGE']);
    assert.match(row.cells[row.header.indexOf('NEXT')] ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/);
    const status = (await getJson('st/tick')).status;
    assert.equal(status.observedGeneration, 1);
    assert.equal(condition({ status }, 'Ready').reason, 'Scheduled');
    assert.ok(status.lastScheduleTime && status.lastSuccessfulTime, 'lastScheduleTime and lastSuccessfulTime are set');
    const pool = await waitFor(async () => {
      const wp = await getJson('wp/default');
      return condition(wp, 'Ready')?.status === 'True' ? wp : undefined;
    }, 20_000, 300, 'the pool to see its live worker');
    assert.equal(pool.status.desiredReplicas, 1);
    const events = JSON.parse(await kubectlOk(['get', 'events', '--field-selector', 'involvedObject.name=tick', '-o', 'json'])).items as Json[];
    assert.ok(events.some((e) => e.reason === 'SuccessfulCreate'), 'SuccessfulCreate events');
    assert.ok(events.some((e) => e.reason === 'SawCompletedJob'), 'SawCompletedJob events');
  }));

  it('each new value of the trigger annotation starts exactly one manual run', tracked(flag, async (t: TestContext) => {
    await kubectlOk(['apply', '-f', '-'], task('on-demand', 'type: shell\nshell: { command: ["sh", "-c", "echo manual"] }'));
    await waitFor(async () => (await getJson('st/on-demand')).status?.taskId, 15_000, 300, 'on-demand to be registered');
    const annotated = Date.now();
    await kubectlOk(['annotate', 'st', 'on-demand', 'scheduling.hourglass.dev/trigger=first']);
    await waitFor(async () => (await runsOf('on-demand', "r.trigger = 'manual'")).length === 1, 15_000, 20, 'the manual run');
    t.diagnostic(`kubectl annotate -> manual run in Postgres: ${Date.now() - annotated} ms (kubectl's own run time included)`);
    const recorded = await waitFor(async () => {
      const st = await getJson('st/on-demand');
      return st.status?.lastTrigger === 'first' ? st : undefined;
    }, 10_000, 200, 'status.lastTrigger');
    assert.equal(recorded.status.pendingTrigger, undefined, 'the intent is cleared once the run is recorded');
    await sleep(1500);
    assert.equal((await runsOf('on-demand', "r.trigger = 'manual'")).length, 1, 'resyncs do not trigger again');
    await kubectlOk(['annotate', '--overwrite', 'st', 'on-demand', 'scheduling.hourglass.dev/trigger=second']);
    await waitFor(async () => (await runsOf('on-demand', "r.trigger = 'manual'")).length === 2, 15_000, 200, 'the second manual run');
    await waitFor(async () => (await getJson('st/on-demand')).status?.lastRun?.phase === 'Succeeded', 15_000, 200, 'lastRun to show the outcome');
  }));

  it('a cron the schema accepts but the core cannot parse is Degraded/InvalidSchedule, once, without crash-looping', tracked(flag, async () => {
    await kubectlOk(['apply', '-f', '-'], task('bad-cron', 'type: shell\nshell: { command: ["true"] }\nschedule: "61 * * * *"'));
    const bad = await waitFor(async () => {
      const st = await getJson('st/bad-cron');
      return condition(st, 'Degraded')?.status === 'True' ? st : undefined;
    }, 15_000, 300, 'bad-cron to be Degraded');
    assert.equal(condition(bad, 'Degraded').reason, 'InvalidSchedule');
    assert.equal(condition(bad, 'Ready').status, 'False');
    assert.match(condition(bad, 'Degraded').message, /61/);
    await sleep(2000);
    const events = JSON.parse(await kubectlOk(['get', 'events', '--field-selector', 'involvedObject.name=bad-cron', '-o', 'json'])).items as Json[];
    assert.equal(events.filter((e) => e.reason === 'InvalidSchedule').length, 1, 'announced once, not on every resync');
    assert.ok(operators.every((p) => !p.exited), 'no operator exited');
    assert.equal((await world.sql.query(`SELECT 1 FROM hg_tasks WHERE name = 'bad-cron'`)).rowCount, 0, 'nothing invalid reached Postgres');
    // fixing the schedule clears the condition
    await kubectlOk(['apply', '-f', '-'], task('bad-cron', 'type: shell\nshell: { command: ["true"] }\nschedule: "1 * * * *"'));
    await waitFor(async () => condition(await getJson('st/bad-cron'), 'Degraded')?.status === 'False', 15_000, 300, 'bad-cron to recover');
  }));

  it('deleting a task cancels its active runs: no finalizer holds the object, the watch sees the deletion', tracked(flag, async () => {
    await kubectlOk(['apply', '-f', '-'], task('sleepy', 'type: shell\nshell: { command: ["sleep", "60"] }\ntimeoutSeconds: 120'));
    await waitFor(async () => (await getJson('st/sleepy')).status?.taskId, 15_000, 200, 'sleepy to be registered');
    assert.equal((await getJson('st/sleepy')).metadata.finalizers, undefined, 'no finalizer is added');
    await kubectlOk(['annotate', 'st', 'sleepy', 'scheduling.hourglass.dev/trigger=go']);
    const [running] = await waitFor(async () => {
      const runs = await runsOf('sleepy', "r.status = 'running'");
      return runs.length === 1 ? runs : undefined;
    }, 20_000, 200, 'sleepy to run');
    await kubectlOk(['delete', 'st', 'sleepy', '--timeout=30s']);
    assert.notEqual((await kubectl(['get', 'st', 'sleepy'])).code, 0, 'the resource is gone at once');
    await waitFor(async () => (await world.sql.query('SELECT status FROM hg_runs WHERE id = $1', [running.id])).rows[0].status === 'cancelled', 10_000, 100, 'the run to be cancelled');
    assert.equal((await world.sql.query(`SELECT 1 FROM hg_tasks WHERE name = 'sleepy' AND deleted_at IS NULL`)).rowCount, 0);
  }));

  it('scales the worker Deployment from the backlog, marks pods cheapest to delete before scale-in, and yields to kubectl scale', tracked(flag, async () => {
    const pod = (name: string) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  labels: { app.kubernetes.io/name: hourglass-worker, scheduling.hourglass.dev/pool: burst }
spec:
  containers: [{ name: worker, image: hourglass:latest }]
`;
    await kubectlOk(['apply', '-f', '-'], `${pod('burst-pod-a')}---
${pod('burst-pod-b')}`);
    await kubectlOk(['apply', '-f', '-'], 'apiVersion: scheduling.hourglass.dev/v1alpha1\nkind: WorkerPool\nmetadata: { name: burst }\nspec:\n  replicas: { min: 0, max: 3 }\n  scaling: { backlogPerReplica: 1, scaleDownDelaySeconds: 1 }\n');
    await waitFor(async () => (await kubectl(['get', 'deployment', 'burst-workers'])).code === 0, 15_000, 300, 'the burst Deployment');
    assert.equal((await getJson('deployment/burst-workers')).spec.replicas, 0, 'min 0 and no backlog');
    await kubectlOk(['apply', '-f', '-'], task('burst-job', 'type: shell\nshell: { command: ["true"] }\npool: burst\nshards: 5'));
    await waitFor(async () => (await getJson('st/burst-job')).status?.taskId, 15_000, 300, 'burst-job to be registered');
    await kubectlOk(['annotate', 'st', 'burst-job', 'scheduling.hourglass.dev/trigger=fan-out']);
    await waitFor(async () => (await getJson('deployment/burst-workers')).spec.replicas === 3, 15_000, 300, 'scale-up to max (5 queued runs, 1 per replica, max 3)');
    const wp = await getJson('wp/burst');
    assert.equal(wp.status.backlog, 5);
    assert.equal(wp.status.desiredReplicas, 3);
    assert.ok(wp.status.lastScaleTime);
    // the backlog goes away (no worker serves this pool): the pods are priced, then the Deployment shrinks
    await world.sql.query(`UPDATE hg_runs SET status = 'cancelled', finished_at = now() WHERE pool = 'burst' AND status IN ('pending', 'queued')`);
    await waitFor(async () => (await getJson('deployment/burst-workers')).spec.replicas === 0, 15_000, 300, 'scale-in after scaleDownDelaySeconds');
    for (const name of ['burst-pod-a', 'burst-pod-b']) {
      assert.equal((await getJson(`pod/${name}`)).metadata.annotations?.['controller.kubernetes.io/pod-deletion-cost'], '-1000', `${name} has no worker: cheapest`);
    }
    await kubectlOk(['scale', 'wp', 'burst', '--replicas=2']);
    await waitFor(async () => (await getJson('deployment/burst-workers')).spec.replicas === 2, 15_000, 300, 'the scale subresource to win');
    const scaled = await waitFor(async () => {
      const object = await getJson('wp/burst');
      return condition(object, 'ScalingActive')?.reason === 'ExternalScaler' ? object : undefined;
    }, 15_000, 300, 'ScalingActive to say ExternalScaler');
    assert.equal(scaled.spec.replicas.desired, 2);
    assert.equal(condition(scaled, 'ScalingActive').status, 'False');
  }));

  it('recovers when every watch is dropped and the history expired: a later change is still reconciled', tracked(flag, async (t: TestContext) => {
    const active = leader() as Proc;
    const restartsBefore = await metric(active, 'hourglass_operator_watch_restarts_total');
    const idleStart = kube.requestCounts().total;
    await sleep(3000);
    t.diagnostic(`steady-state API requests with ${(await kubectlOk(['get', 'st', '-o', 'name'])).trim().split('\n').length} tasks and 2 pools (pool_resync_seconds = 1): ${((kube.requestCounts().total - idleStart - 1) / 3).toFixed(1)}/s`);
    kube.expireHistory();
    kube.dropWatches();
    const dropped = Date.now();
    await kubectlOk(['apply', '-f', '-'], task('after-drop', 'type: shell\nshell: { command: ["true"] }'));
    kube.dropWatches();
    const st = await waitFor(async () => {
      const object = await getJson('st/after-drop');
      return object.status?.taskId ? object : undefined;
    }, 30_000, 50, 'after-drop to be reconciled');
    t.diagnostic(`watches dropped -> a new task reconciled: ${Date.now() - dropped} ms`);
    assert.equal(condition(st, 'Ready').reason, 'OnDemand');
    assert.ok((await metric(active, 'hourglass_operator_watch_restarts_total')) > restartsBefore, 'watch restarts are counted');
  }));

  it('leaves resources outside its watched namespaces alone', tracked(flag, async () => {
    await kubectlOk(['create', 'namespace', 'elsewhere']);
    await kubectlOk(['apply', '-n', 'elsewhere', '-f', '-'], task('outsider', 'type: shell\nshell: { command: ["true"] }\nschedule: "@every 1s"'));
    await kubectlOk(['apply', '-f', '-'], task('insider', 'type: shell\nshell: { command: ["true"] }'));
    await waitFor(async () => (await getJson('st/insider')).status?.taskId, 15_000, 200, 'insider to be reconciled');
    await sleep(1000);
    const outsider = JSON.parse(await kubectlOk(['get', '-n', 'elsewhere', 'st/outsider', '-o', 'json'])) as Json;
    assert.equal(outsider.status, undefined);
    assert.equal(outsider.metadata.finalizers, undefined);
    assert.equal((await world.sql.query(`SELECT 1 FROM hg_tasks WHERE namespace = 'elsewhere'`)).rowCount, 0);
  }));

  it('the standby takes over when the leader dies, and no schedule slot fires twice', tracked(flag, async (t: TestContext) => {
    const old = leader() as Proc;
    const standby = operators.find((p) => p !== old) as Proc;
    old.kill('SIGKILL');
    await old.waitForExit();
    const killedAt = new Date();
    await standby.waitForLine(/became the operator leader/, 20_000);
    t.diagnostic(`leader SIGKILLed -> standby leads: ${Date.now() - killedAt.getTime()} ms (lease 4 s, retry 1 s)`);
    await kubectlOk(['apply', '-f', '-'], task('after-failover', 'type: shell\nshell: { command: ["true"] }'));
    await waitFor(async () => (await getJson('st/after-failover')).status?.taskId, 20_000, 300, 'the new leader to reconcile');
    await waitFor(async () => (await runsOf('tick', `r.status = 'succeeded' AND r.scheduled_time > '${killedAt.toISOString()}'`)).length >= 2, 30_000, 300, 'tick to keep firing');
    const duplicates = await world.sql.query('SELECT task_id, scheduled_time, shard, count(*) FROM hg_runs WHERE attempt = 1 GROUP BY 1, 2, 3 HAVING count(*) > 1');
    assert.deepEqual(duplicates.rows, []);
    // a clean stop hands the Lease back at once instead of letting it expire
    standby.kill('SIGTERM');
    assert.equal((await standby.waitForExit(30_000)).code, 0);
    assert.equal((await getJson('lease/hourglass-operator')).spec.holderIdentity ?? '', '');
  }));
});
