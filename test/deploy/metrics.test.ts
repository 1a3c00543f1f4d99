import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startKubeApiServer, type KubeApiServer } from '../support/kube/server.ts';
import { SERVICE_URLS, skipUnless, uniqueNamespace } from '../support/services.ts';
import {
  backendEnv, freePort, startAllInOne, startProcess, tracked, useE2eWorld, waitFor, writeTestConfig, type Api, type FailureFlag,
} from '../support/processes.ts';
import { alertExpressions, dashboardExpressions, exposedNames, metricNames } from './promql.ts';
import { expectSuccess, repoPath, runAsync, toolOrSkip } from './support.ts';

/**
 * Every metric an alert or a dashboard uses must exist in what a running system exposes: the
 * all-in-one scheduler after it ran tasks, the operator against the in-memory Kubernetes API server,
 * and postgres-exporter against the same database. `up` is the one name Prometheus makes itself.
 */
const TERMINAL = new Set(['succeeded', 'failed', 'timed_out', 'cancelled']);
const PROMETHEUS_SYNTHETIC = new Set(['up']);

async function scrape(url: string): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  assert.equal(response.status, 200, `GET ${url}`);
  return response.text();
}

describe('metrics used by monitoring/ exist in a running system', { skip: await skipUnless('postgres') }, () => {
  const flag: FailureFlag = { failed: false };
  const world = useE2eWorld(flag);
  const exposed = { scheduler: new Set<string>(), operator: new Set<string>(), postgres: new Set<string>() };
  let client: Api;
  let apiUrl: string;
  let kube: KubeApiServer | undefined;
  let exporter: ChildProcess | undefined;

  before(tracked(flag, async () => {
    const config = writeTestConfig(world.tmp.dir, uniqueNamespace('metrics'));
    const started = await startAllInOne(world, 'postgres', config, 'all-metrics');
    client = started.client;
    const listening = await started.proc.waitForLine(/API listening/);
    apiUrl = (JSON.parse(listening) as { url: string }).url;
  }));

  after(async () => {
    exporter?.kill('SIGKILL');
    await kube?.close();
  });

  it('the all-in-one scheduler exposes its task, queue, worker, HTTP and process metrics after running tasks', tracked(flag, async () => {
    const runs: string[] = [];
    for (const [name, script] of [['metrics-ok', 'echo ok'], ['metrics-fail', 'exit 3']] as const) {
      const created = await client.post('/api/tasks', { name, type: 'shell', shell: { command: ['sh', '-c', script] } });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const triggered = await client.post(`/api/tasks/${created.body.id}/trigger`);
      assert.equal(triggered.status, 201, JSON.stringify(triggered.body));
      runs.push(triggered.body.id);
    }
    for (const id of runs) {
      await waitFor(async () => TERMINAL.has((await client.get(`/api/task-runs/${id}`)).body.status), 20_000, 200, `run ${id} to end`);
    }
    // the status events reach the metrics right after the runs end; give the worker's hooks a moment
    const text = await waitFor(async () => {
      const body = await scrape(`${apiUrl}/metrics`);
      return /tasks_executed_total\{[^}]*status="failed"/.test(body) ? body : undefined;
    }, 10_000, 250, 'tasks_executed_total{status="failed"} in /metrics');
    for (const name of exposedNames(text)) exposed.scheduler.add(name);
    assert.match(text, /tasks_executed_total\{[^}]*status="succeeded"/);
    assert.match(text, /^scheduler_task_failures_total \d/m);
    assert.match(text, /^task_execution_duration_seconds_bucket\{/m);
    assert.match(text, /^process_cpu_seconds_total /m);
  }));

  it('the operator exposes its reconcile, queue, watch and leader metrics', tracked(flag, async (t) => {
    kube = await startKubeApiServer({ log: () => undefined });
    const kubeconfig = path.join(world.tmp.dir, 'kubeconfig');
    kube.writeKubeconfig(kubeconfig);
    const kubectl = (...args: string[]) => runAsync('kubectl', ['--kubeconfig', kubeconfig, '--cache-dir', path.join(world.tmp.dir, 'kube-cache'), ...args]);
    if (toolOrSkip('kubectl', 'needed to install the CRDs') === false) {
      expectSuccess(await kubectl('apply', '-f', repoPath('crds', 'scheduledtask.yaml'), '-f', repoPath('crds', 'workerpool.yaml')), 'kubectl apply crds');
    }
    const port = await freePort();
    const operatorConfig = path.join(world.tmp.dir, 'operator.toml');
    writeFileSync(operatorConfig, [
      '[operator]',
      `kubeconfig = "${kubeconfig}"`,
      `bind_address = "127.0.0.1:${port}"`,
      'lease_namespace = "default"',
      `lease_name = "${uniqueNamespace('lease')}"`,
      'run_dispatcher = true',
      '',
    ].join('\n'));
    const operator = startProcess({
      name: 'operator-metrics',
      args: ['--mode', 'operator', '--config', operatorConfig],
      env: { ...backendEnv('postgres', world.db.url, SERVICE_URLS), KUBECONFIG: kubeconfig },
    });
    const text = await waitFor(async () => {
      const body = await scrape(`http://127.0.0.1:${port}/metrics`).catch(() => '');
      return /^hourglass_operator_leader 1/m.test(body) ? body : undefined;
    }, 30_000, 250, 'the operator to lead (hourglass_operator_leader 1)').catch((error: Error) => {
      throw new Error(`${error.message}\n${operator.lines.join('\n')}`);
    });
    for (const name of exposedNames(text)) exposed.operator.add(name);
    t.diagnostic(`operator exposes ${[...exposed.operator].filter((n) => n.startsWith('hourglass_operator_')).length} hourglass_operator_* series names`);
    assert.ok(exposed.operator.has('hourglass_operator_reconcile_total'));
    // on Kubernetes the operator runs the dispatcher, so NoDispatcherLeader reads the gauge from it
    assert.match(text, /^hourglass_dispatcher_leader [01]$/m);
    operator.kill('SIGTERM');
    await operator.waitForExit(15_000);
  }));

  it('postgres-exporter exposes pg_up and the pg_stat_* metrics of the database dashboard', tracked(flag, async (t) => {
    const skip = toolOrSkip('prometheus-postgres-exporter', "Debian's prometheus-postgres-exporter package");
    if (skip) {
      t.skip(skip);
      return;
    }
    const port = await freePort();
    const url = new URL(world.db.url);
    url.searchParams.set('sslmode', 'disable');
    exporter = spawn('prometheus-postgres-exporter', [`--web.listen-address=127.0.0.1:${port}`], {
      env: { ...process.env, DATA_SOURCE_NAME: url.toString() },
      stdio: 'ignore',
    });
    const text = await waitFor(async () => {
      const body = await scrape(`http://127.0.0.1:${port}/metrics`).catch(() => '');
      return /^pg_up 1/m.test(body) ? body : undefined;
    }, 20_000, 250, 'postgres-exporter to report pg_up 1');
    for (const name of exposedNames(text)) exposed.postgres.add(name);
    assert.ok(exposed.postgres.has('pg_stat_database_numbackends'));
  }));

  it('every metric in alerts.yml and the Grafana dashboards is among them', tracked(flag, async () => {
    assert.ok(exposed.scheduler.size > 0, 'the scheduler was scraped');
    const all = new Set([...exposed.scheduler, ...exposed.operator, ...exposed.postgres, ...PROMETHEUS_SYNTHETIC]);
    const missing: string[] = [];
    const skippedSources: string[] = [];
    let checked = 0;
    for (const { where, expr } of [...alertExpressions(), ...dashboardExpressions()]) {
      for (const name of metricNames(expr)) {
        if (name.startsWith('pg_') && exposed.postgres.size === 0) {
          skippedSources.push(`${where}: ${name}`);
          continue;
        }
        checked++;
        if (!all.has(name)) missing.push(`${where}: ${name}`);
      }
    }
    assert.deepEqual(missing, [], `metrics used but not exposed by any running part:\n${missing.join('\n')}`);
    assert.ok(checked >= 50, `${checked} metric references checked`);
    if (skippedSources.length > 0) console.warn(`\n!!! not checked (no postgres-exporter): ${skippedSources.length} pg_* references !!!\n`);
  }));

  it('a name nobody exports is caught (the check above can fail)', () => {
    const all = new Set([...exposed.scheduler, ...exposed.operator, ...exposed.postgres]);
    assert.deepEqual(metricNames('sum(rate(scheduler_task_failure_total[5m])) > 0').filter((n) => !all.has(n)), ['scheduler_task_failure_total']);
    assert.ok(readFileSync(repoPath('monitoring', 'alerts.yml'), 'utf8').includes('scheduler_task_failures_total'));
  });
});

/**
 * In a split deployment (docker-compose.workers.yml, the operator's worker pods) the guide's
 * scheduler-workers and scheduler-dispatcher jobs scrape processes that serve no API. What alerts and
 * dashboards read from those jobs, and the worker-side metrics of HighTaskFailureRate and
 * ScheduleLagHigh, must be on their own /metrics, from a worker that holds no database credentials.
 */
const WORKER_SIDE = ['tasks_executed_total', 'scheduler_task_failures_total', 'task_execution_duration_seconds_bucket', 'schedule_lag_seconds_bucket'];

describe('split deployment: the scheduler-workers and scheduler-dispatcher targets expose what monitoring/ selects from them', { skip: await skipUnless('postgres', 'rabbitmq') }, () => {
  const flag: FailureFlag = { failed: false };
  const world = useE2eWorld(flag);
  let client: Api;
  let configFile: string;

  before(tracked(flag, async () => {
    configFile = writeTestConfig(world.tmp.dir, uniqueNamespace('deploy-split'), { workerEnabled: false });
    ({ client } = await startAllInOne(world, 'rabbitmq', configFile, 'deploy-api-dispatcher'));
  }));

  const usedFromJob = (job: string): string[] => {
    const names = new Set<string>();
    for (const { expr } of [...alertExpressions(), ...dashboardExpressions()]) {
      if (expr.includes(`job="${job}"`)) for (const name of metricNames(expr)) if (!PROMETHEUS_SYNTHETIC.has(name)) names.add(name);
    }
    return [...names];
  };

  it('a worker with only the broker URL exposes the worker-side metrics after a run fails', tracked(flag, async () => {
    const port = await freePort();
    const env = { ...backendEnv('rabbitmq', world.db.url, SERVICE_URLS), DATABASE_URL: undefined, JWT_SECRET: undefined, METRICS_BIND_ADDRESS: `127.0.0.1:${port}` };
    const worker = startProcess({ name: 'deploy-worker', args: ['--mode', 'worker', '--worker-id', 'worker-1', '--pool', 'default', '--config', configFile], env });
    await worker.waitForLine(/worker started/, 20_000);
    const created = await client.post('/api/tasks', { name: 'split-fail', type: 'shell', shell: { command: ['sh', '-c', 'exit 3'] } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const triggered = await client.post(`/api/tasks/${created.body.id}/trigger`);
    assert.equal(triggered.status, 201, JSON.stringify(triggered.body));
    await waitFor(async () => TERMINAL.has((await client.get(`/api/task-runs/${triggered.body.id}`)).body.status), 20_000, 200, 'the run to end');
    const text = await waitFor(async () => {
      const body = await scrape(`http://127.0.0.1:${port}/metrics`);
      return /^scheduler_task_failures_total [1-9]/m.test(body) ? body : undefined;
    }, 10_000, 250, 'scheduler_task_failures_total > 0 on the worker (HighTaskFailureRate has a real target)');
    const names = exposedNames(text);
    const wanted = [...new Set([...WORKER_SIDE, ...usedFromJob('scheduler-workers')])];
    assert.ok(wanted.length > WORKER_SIDE.length, 'the dashboards select some metrics by job="scheduler-workers"');
    assert.deepEqual(wanted.filter((n) => !names.has(n)), [], 'missing from a worker\'s /metrics');
    assert.equal((await fetch(`http://127.0.0.1:${port}/health`)).status, 200, 'the compose health check and the pod liveness probe');
  }));

  it('a dispatcher exposes the leadership gauge NoDispatcherLeader reads, and what the dashboards select by job', tracked(flag, async () => {
    const port = await freePort();
    const env = { ...backendEnv('rabbitmq', world.db.url, SERVICE_URLS), JWT_SECRET: undefined, METRICS_BIND_ADDRESS: `127.0.0.1:${port}` };
    startProcess({ name: 'deploy-dispatcher', args: ['--mode', 'dispatcher', '--config', configFile], env });
    const text = await waitFor(async () => {
      const body = await scrape(`http://127.0.0.1:${port}/metrics`).catch(() => '');
      return /^hourglass_dispatcher_leader [01]$/m.test(body) ? body : undefined;
    }, 20_000, 250, 'the dispatcher\'s /metrics');
    const names = exposedNames(text);
    assert.deepEqual(usedFromJob('scheduler-dispatcher').filter((n) => !names.has(n)), [], 'missing from a dispatcher\'s /metrics');
  }));
});
