import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse as parseYaml, stringify } from 'yaml';
import { alertExpressions, dashboardExpressions, dashboardFiles, DASHBOARD_DIR } from './promql.ts';
import { expectSuccess, readRepoFile, repoPath, run, toolOrSkip } from './support.ts';

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface PrometheusConfig {
  rule_files: string[];
  alerting: { alertmanagers: Array<{ static_configs: Array<{ targets: string[] }> }> };
  scrape_configs: Array<{ job_name: string; metrics_path?: string; static_configs: Array<{ targets: string[] }> }>;
}

const promtoolSkip = toolOrSkip('promtool', "Debian's prometheus package");
const prometheusConfig = () => parseYaml(readRepoFile('monitoring/prometheus.yml')) as PrometheusConfig;
const rules = (): Rule[] => (parseYaml(readRepoFile('monitoring/alerts.yml')) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap((g) => g.rules);
const composeServices = () => Object.keys((parseYaml(readRepoFile('docker-compose.yml')) as { services: Record<string, unknown> }).services);

describe('monitoring/ with promtool', { skip: promtoolSkip }, () => {
  it('prometheus.yml passes promtool check config (its rule file included)', () => {
    const out = expectSuccess(run('promtool', ['check', 'config', 'monitoring/prometheus.yml']), 'promtool check config');
    assert.match(out, /SUCCESS: 1 rule files found/);
  });

  it('alerts.yml passes promtool check rules', () => {
    const out = expectSuccess(run('promtool', ['check', 'rules', 'monitoring/alerts.yml']), 'promtool check rules');
    assert.match(out, new RegExp(`SUCCESS: ${rules().length} rules found`));
  });

  it('the alert rule unit tests pass, and they cover HighTaskFailureRate and WorkerNodeDown', () => {
    const tests = parseYaml(readRepoFile('monitoring/tests/alerts.test.yml')) as { tests: Array<{ alert_rule_test: Array<{ alertname: string; exp_alerts: unknown[] }> }> };
    const covered = new Map<string, number>();
    for (const t of tests.tests) for (const a of t.alert_rule_test) covered.set(a.alertname, Math.max(covered.get(a.alertname) ?? 0, a.exp_alerts.length));
    for (const name of ['HighTaskFailureRate', 'WorkerNodeDown', 'NoDispatcherLeader', 'NoOperatorLeader', 'QueueBacklogGrowing', 'ScheduleLagHigh', 'DatabaseUnreachable']) {
      assert.ok((covered.get(name) ?? 0) > 0, `a test expects ${name} to fire`);
    }
    const out = expectSuccess(run('promtool', ['test', 'rules', 'monitoring/tests/alerts.test.yml']), 'promtool test rules');
    assert.match(out, /SUCCESS/);
  });

  it('a broken expectation makes promtool test rules fail, so the pass above is real', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'hg-promtool-'));
    try {
      const tests = parseYaml(readRepoFile('monitoring/tests/alerts.test.yml')) as { rule_files: string[]; tests: Array<{ alert_rule_test: Array<{ alertname: string; eval_time: string; exp_alerts: unknown[] }> }> };
      tests.rule_files = [repoPath('monitoring', 'alerts.yml')];
      const first = tests.tests[0]?.alert_rule_test.find((a) => a.alertname === 'HighTaskFailureRate' && a.exp_alerts.length > 0);
      assert.ok(first);
      first.exp_alerts = [];
      writeFileSync(path.join(dir, 'broken.test.yml'), stringify(tests));
      const result = run('promtool', ['test', 'rules', path.join(dir, 'broken.test.yml')]);
      assert.notEqual(result.code, 0);
      assert.match(result.stdout + result.stderr, /HighTaskFailureRate/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('every dashboard expression is valid PromQL (promtool parses each as a recording rule)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'hg-promtool-'));
    try {
      const expressions = dashboardExpressions();
      assert.ok(expressions.length >= 30, `${expressions.length} dashboard queries`);
      const file = path.join(dir, 'dashboards.rules.yml');
      writeFileSync(file, stringify({ groups: [{ name: 'dashboards', rules: expressions.map((e, i) => ({ record: `dashboard:query:${i}`, expr: e.expr })) }] }));
      const out = expectSuccess(run('promtool', ['check', 'rules', file]), 'promtool check rules (dashboard queries)');
      assert.match(out, new RegExp(`SUCCESS: ${expressions.length} rules found`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('monitoring/ contents', () => {
  it('keeps the guide\'s HighTaskFailureRate and WorkerNodeDown, and has every alert the deployment needs', () => {
    const byName = new Map(rules().map((r) => [r.alert, r]));
    assert.deepEqual(
      { ...byName.get('HighTaskFailureRate'), annotations: undefined },
      { alert: 'HighTaskFailureRate', expr: 'rate(scheduler_task_failures_total[5m]) > 0.1', for: '2m', labels: { severity: 'warning' }, annotations: undefined },
    );
    assert.equal(byName.get('HighTaskFailureRate')?.annotations?.summary, 'Task failure rate is high');
    assert.deepEqual(
      { ...byName.get('WorkerNodeDown'), annotations: undefined },
      { alert: 'WorkerNodeDown', expr: 'up{job="scheduler-workers"} == 0', for: '1m', labels: { severity: 'critical' }, annotations: undefined },
    );
    assert.equal(byName.get('WorkerNodeDown')?.annotations?.summary, 'Worker node is down');
    for (const name of ['ScheduleLagHigh', 'QueueBacklogGrowing', 'NoDispatcherLeader', 'NoOperatorLeader', 'DatabaseUnreachable']) {
      assert.ok(byName.has(name), `alerts.yml has ${name}`);
    }
    for (const rule of rules()) {
      assert.ok(['warning', 'critical'].includes(rule.labels?.severity ?? ''), `${rule.alert} has a severity Alertmanager routes on`);
      assert.ok(rule.annotations?.summary && rule.annotations.description, `${rule.alert} says what happened and what to do`);
    }
  });

  it('scrapes the guide\'s three jobs at compose service names, and alerts to the compose Alertmanager', () => {
    const config = prometheusConfig();
    const jobs = new Map(config.scrape_configs.map((j) => [j.job_name, j.static_configs.flatMap((s) => s.targets)]));
    assert.deepEqual(jobs.get('scheduler-api'), ['api:8080']);
    assert.deepEqual(jobs.get('scheduler-dispatcher'), ['dispatcher:8080']);
    assert.deepEqual(jobs.get('scheduler-workers'), ['worker-1:8080', 'worker-2:8080']);
    const services = composeServices();
    for (const target of [...jobs.values()].flat()) {
      const host = target.split(':')[0] as string;
      if (host !== 'localhost') assert.ok(services.includes(host), `scrape target ${target} is a docker-compose.yml service`);
    }
    const alertmanagers = config.alerting.alertmanagers.flatMap((a) => a.static_configs.flatMap((s) => s.targets));
    assert.deepEqual(alertmanagers, ['alertmanager:9093']);
    assert.ok(services.includes('alertmanager'));
    assert.deepEqual(config.rule_files, ['alerts.yml']);
  });

  it('selects only jobs that prometheus.yml defines', () => {
    const jobs = prometheusConfig().scrape_configs.map((j) => j.job_name);
    for (const { where, expr } of [...alertExpressions(), ...dashboardExpressions()]) {
      for (const match of expr.matchAll(/job\s*(=~|=)\s*"([^"]*)"/g)) {
        const [, op, value] = match as unknown as [string, string, string];
        const hit = op === '=' ? jobs.includes(value) : jobs.some((j) => new RegExp(`^(?:${value})$`).test(j));
        assert.ok(hit, `${where}: job${op}"${value}" matches a job of prometheus.yml (${jobs.join(', ')})`);
      }
    }
  });

  it('alertmanager.yml is valid (amtool check-config when installed) and routes only to defined receivers', () => {
    const config = parseYaml(readRepoFile('monitoring/alertmanager.yml')) as {
      route: { receiver: string; group_by: string[]; routes?: Array<{ receiver: string }> };
      receivers: Array<{ name: string; email_configs?: Array<{ to: string }> }>;
    };
    const receivers = config.receivers.map((r) => r.name);
    assert.equal(config.route.receiver, 'web.hook');
    for (const route of config.route.routes ?? []) assert.ok(receivers.includes(route.receiver), `route receiver ${route.receiver}`);
    assert.deepEqual(config.route.group_by, ['alertname']);
    assert.ok(config.receivers.find((r) => r.name === 'web.hook')?.email_configs?.[0]?.to, 'the guide\'s e-mail receiver');
    if (!toolOrSkip('amtool', "Debian's prometheus-alertmanager package")) {
      const out = expectSuccess(run('amtool', ['check-config', 'monitoring/alertmanager.yml']), 'amtool check-config');
      assert.match(out, /SUCCESS/);
    }
  });

  it('provisions a Prometheus datasource and the four dashboards of the guide, as valid JSON', () => {
    const datasources = parseYaml(readRepoFile('monitoring/grafana/provisioning/datasources/prometheus.yml')) as { datasources: Array<{ uid: string; type: string; url: string }> };
    const uid = datasources.datasources[0]?.uid;
    assert.equal(datasources.datasources[0]?.type, 'prometheus');
    assert.equal(datasources.datasources[0]?.url, 'http://prometheus:9090');
    const providers = parseYaml(readRepoFile('monitoring/grafana/provisioning/dashboards/hourglass.yml')) as { providers: Array<{ options: { path: string } }> };
    const grafana = (parseYaml(readRepoFile('docker-compose.yml')) as { services: Record<string, { volumes: string[] }> }).services.grafana;
    assert.ok(grafana?.volumes.includes(`./monitoring/grafana/dashboards:${providers.providers[0]?.options.path}:ro`), 'the provider reads where compose mounts the dashboards');
    const titles: string[] = [];
    const uids = new Set<string>();
    for (const file of dashboardFiles()) {
      const dashboard = JSON.parse(readFileSync(path.join(DASHBOARD_DIR, file), 'utf8')) as { uid: string; title: string; panels: Array<{ id: number; datasource?: { uid: string }; gridPos: object; targets: Array<{ datasource?: { uid: string } }> }> };
      titles.push(dashboard.title);
      assert.ok(!uids.has(dashboard.uid), `${file}: unique uid`);
      uids.add(dashboard.uid);
      assert.equal(new Set(dashboard.panels.map((p) => p.id)).size, dashboard.panels.length, `${file}: unique panel ids`);
      for (const panel of dashboard.panels) {
        assert.ok(panel.gridPos, `${file} panel ${panel.id} has a position`);
        assert.equal(panel.datasource?.uid, uid, `${file} panel ${panel.id} uses the provisioned datasource`);
        for (const target of panel.targets) assert.equal(target.datasource?.uid, uid);
      }
    }
    assert.deepEqual(titles.sort(), ['Hourglass / Database', 'Hourglass / System overview', 'Hourglass / Task execution', 'Hourglass / Worker nodes']);
  });
});
