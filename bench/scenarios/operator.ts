/**
 * Scenario 5: N ScheduledTasks already in the in-memory Kubernetes API server (test/support/kube), then
 * `scheduler --mode operator` starts: the time until every task is registered in Postgres and has its
 * status written back (Ready, observedGeneration), the operator's peak RSS, the API requests it made while
 * syncing (and its writes per ScheduledTask), and the writes it made afterwards while nothing changed
 * (politeness: only Lease renewals). Then its watch history expires (410 Gone) and every watch is cut: the
 * time until the relist is taken in and reconciled, and the writes it made (nothing changed: ~0).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { parse } from 'yaml';
import { CRD_FILES } from '../../operator/crds.ts';
import { startKubeApiServer, type KubeApiServer } from '../../test/support/kube/server.ts';
import { REPO_ROOT, backendEnv, freePort, killAll, startProcess, tempDir, writeTestConfig, type Proc } from '../../test/support/processes.ts';
import { SERVICE_URLS, createTestDatabase, uniqueNamespace } from '../../test/support/services.ts';
import { procMemoryMb } from '../lib/proc-memory.ts';

export const OPERATOR_SYSTEM = 'hourglass/operator';

const GROUP_PATH = '/apis/scheduling.hourglass.dev/v1alpha1/namespaces/default/scheduledtasks';
const CREATE_CONCURRENCY = 32;

async function call(kube: KubeApiServer, method: string, url: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const response = await fetch(`${kube.url}${url}`, {
    method,
    headers: { 'content-type': 'application/json', authorization: 'Bearer bench' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, json: text ? (JSON.parse(text) as unknown) : undefined };
}

/** CPU seconds (user + system) the process has used so far, from /proc/<pid>/stat; NaN when unreadable. */
function cpuSeconds(pid: number): number {
  try {
    // the fields after the command (which may hold spaces): state is the 3rd field, utime the 14th, stime the 15th
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // clock ticks of 1/100 s (USER_HZ on Linux)
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

type Counts = ReturnType<KubeApiServer['requestCounts']>;

function diff(from: Counts, to: Counts): Counts {
  const byResource: Record<string, number> = {};
  for (const [key, n] of Object.entries(to.byResource)) if (n - (from.byResource[key] ?? 0) > 0) byResource[key] = n - (from.byResource[key] ?? 0);
  const byVerb: Record<string, number> = {};
  for (const [key, n] of Object.entries(to.byVerb)) byVerb[key] = n - (from.byVerb[key] ?? 0);
  return { total: to.total - from.total, byVerb, byResource };
}

const WRITE_VERBS = ['create', 'update', 'patch', 'delete'];
const writes = (counts: Counts) => WRITE_VERBS.reduce((n, verb) => n + (counts.byVerb[verb] ?? 0), 0);
/** writes to ScheduledTasks, their status included (not Leases, Events or the harness's own objects) */
const taskWrites = (counts: Counts) =>
  Object.entries(counts.byResource).reduce((n, [key, value]) => {
    const [verb, resource] = key.split(' ');
    return WRITE_VERBS.includes(verb as string) && resource?.startsWith('scheduledtasks') ? n + value : n;
  }, 0);

/** Names of the ScheduledTasks whose Ready condition is for their generation, from a watch response. */
async function countReady(response: Response, ready: Set<string>): Promise<void> {
  let rest = '';
  const decoder = new TextDecoder();
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    rest += decoder.decode(chunk, { stream: true });
    let nl;
    while ((nl = rest.indexOf('\n')) >= 0) {
      const line = rest.slice(0, nl);
      rest = rest.slice(nl + 1);
      if (!line) continue;
      const ev = JSON.parse(line) as { object: { metadata: { name: string; generation?: number }; status?: { conditions?: Array<{ type: string; observedGeneration?: number }> } } };
      const item = ev.object;
      if (item.status?.conditions?.some((c) => c.type === 'Ready' && c.observedGeneration === item.metadata.generation)) ready.add(item.metadata.name);
    }
  }
}

/** The operator's own count of lists taken in and its ScheduledTask queue depth, from /metrics. */
async function operatorMetrics(url: string): Promise<{ relists: number; depth: number }> {
  let text = '';
  // a kept-alive connection the busy operator closes just as it is reused answers ECONNRESET: ask again
  for (let attempt = 1; !text; attempt++) {
    try {
      text = await (await fetch(url)).text();
    } catch (error) {
      if (attempt >= 3) throw new Error(`reading the operator's metrics at ${url}: ${(error as Error).message} (${String(((error as Error).cause as Error | undefined)?.message ?? '')})`, { cause: error });
    }
  }
  const value = (name: string) => Number(new RegExp(`^${name}\\{kind="ScheduledTask"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return { relists: value('hourglass_operator_relists_total'), depth: value('hourglass_operator_queue_depth') };
}

export async function operatorCase(quick: boolean): Promise<{ metrics: Record<string, number>; config: Record<string, unknown> }> {
  const count = Number(process.env.BENCH_OPERATOR_TASKS ?? (quick ? 200 : 10_000));
  const idleMs = quick ? 2000 : 5000;
  const running: Proc[] = [];
  const kube = await startKubeApiServer({ log: () => undefined });
  const database = await createTestDatabase();
  const tmp = tempDir('hg-bench-operator-');
  const sql = new pg.Client({ connectionString: database.url });
  try {
    for (const file of Object.values(CRD_FILES)) {
      const crd = parse(readFileSync(path.join(REPO_ROOT, 'crds', file), 'utf8')) as unknown;
      const created = await call(kube, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
      if (created.status >= 300) throw new Error(`creating CRD ${file}: HTTP ${created.status} ${JSON.stringify(created.json).slice(0, 300)}`);
    }
    for (let tries = 0; (await call(kube, 'GET', `${GROUP_PATH}?limit=1`)).status !== 200; tries++) {
      if (tries > 100) throw new Error('the ScheduledTask CRD never became served');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    let next = 0;
    await Promise.all(
      Array.from({ length: CREATE_CONCURRENCY }, async () => {
        while (next < count) {
          const i = next++;
          const body = {
            apiVersion: 'scheduling.hourglass.dev/v1alpha1',
            kind: 'ScheduledTask',
            metadata: { name: `bench-${i}`, namespace: 'default' },
            spec: { type: 'shell', shell: { command: ['true'] }, schedule: `${i % 60} 3 * * *` },
          };
          const created = await call(kube, 'POST', GROUP_PATH, body);
          if (created.status >= 300) throw new Error(`creating bench-${i}: HTTP ${created.status} ${JSON.stringify(created.json).slice(0, 300)}`);
        }
      }),
    );
    const kubeconfig = path.join(tmp.dir, 'kubeconfig.yaml');
    const metricsPort = await freePort();
    kube.writeKubeconfig(kubeconfig, 'default');
    const configFile = writeTestConfig(tmp.dir, uniqueNamespace('bench-op'), {
      workerEnabled: false,
      // BENCH_OPERATOR_CONFIG: extra [operator] keys for experiments (e.g. reconcile_workers = 16); the published run uses defaults
      extra: ['[operator]', `kubeconfig = "${kubeconfig}"`, 'namespaces = ["default"]', `bind_address = "127.0.0.1:${metricsPort}"`, 'lease_namespace = "default"', process.env.BENCH_OPERATOR_CONFIG ?? ''].join('\n'),
    });
    await sql.connect();
    // Statuses are counted from one watch: polling the whole list of 10,000 every 250 ms made the in-process
    // API server spend its time serialising lists, slowing the operator it measures.
    const startRv = ((await call(kube, 'GET', `${GROUP_PATH}?limit=1`)).json as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
    const ready = new Set<string>();
    const watchAbort = new AbortController();
    // opened before the counts are taken, so that every request counted from here on is the operator's
    const watch = await fetch(`${kube.url}${GROUP_PATH}?watch=1&resourceVersion=${startRv}`, { headers: { authorization: 'Bearer bench' }, signal: watchAbort.signal });
    void countReady(watch, ready).catch(() => undefined);
    const before = kube.requestCounts();
    const benchCpuBefore = process.cpuUsage();
    const started = performance.now();
    const operator: Proc = startProcess({
      name: 'operator',
      args: ['--mode', 'operator', '--config', configFile],
      // BENCH_OPERATOR_NODE_OPTIONS: e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the operator alone
      env: { ...backendEnv('postgres', database.url, SERVICE_URLS), LOG_LEVEL: 'warn', NODE_OPTIONS: process.env.BENCH_OPERATOR_NODE_OPTIONS },
    });
    running.push(operator);
    let registeredMs = NaN;
    let syncedMs = NaN;
    let operatorCpuS = NaN;
    let apiServerCpuS = NaN;
    const deadline = started + (quick ? 120_000 : 300_000);
    while (Number.isNaN(syncedMs)) {
      if (operator.exited) throw new Error(`the operator exited:\n${operator.lines.slice(-10).join('\n')}`);
      if (performance.now() > deadline) throw new Error(`not synced in time (registered: ${Number.isFinite(registeredMs)})`);
      await new Promise((resolve) => setTimeout(resolve, 250));
      if (Number.isNaN(registeredMs)) {
        const rows = await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM hg_tasks WHERE deleted_at IS NULL AND name LIKE 'bench-%'`).catch(() => ({ rows: [{ n: 0 }] }));
        if ((rows.rows[0]?.n ?? 0) >= count) registeredMs = performance.now() - started;
        else continue;
      }
      if (ready.size >= count) {
        syncedMs = performance.now() - started;
        operatorCpuS = cpuSeconds(operator.pid);
        const bench = process.cpuUsage(benchCpuBefore);
        apiServerCpuS = (bench.user + bench.system) / 1e6;
      }
      // BENCH_OPERATOR_PROGRESS=1: how far the sync got, every 250 ms, on stderr
      if (process.env.BENCH_OPERATOR_PROGRESS) process.stderr.write(`  ${Math.round(performance.now() - started)} ms: ${ready.size} Ready\n`);
    }
    watchAbort.abort();
    const atSync = kube.requestCounts();
    await new Promise((resolve) => setTimeout(resolve, idleMs));
    const afterIdle = kube.requestCounts();

    // 410 Gone: a write moves the revision past the operator's, history expires, every watch is cut; the
    // operator's resume is refused and it relists. Done once that list is taken in and its queue is empty.
    const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    const relistsBefore = (await operatorMetrics(metricsUrl)).relists;
    await call(kube, 'POST', '/api/v1/namespaces/default/configmaps', { metadata: { generateName: 'bench-bump-' } });
    const beforeRelist = kube.requestCounts();
    const relistStarted = performance.now();
    kube.expireHistory();
    kube.dropWatches();
    let relistMs = NaN;
    while (Number.isNaN(relistMs)) {
      if (performance.now() - relistStarted > 120_000) throw new Error('the relist after 410 Gone never finished');
      await new Promise((resolve) => setTimeout(resolve, 50));
      const seen = await operatorMetrics(metricsUrl);
      if (seen.relists > relistsBefore && seen.depth === 0) relistMs = performance.now() - relistStarted;
    }
    const atRelist = kube.requestCounts();
    // what the relist's reconciles still had in flight, and anything that follows it
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const afterRelist = kube.requestCounts();

    const sync = diff(before, atSync);
    const relist = diff(beforeRelist, afterRelist);
    process.stderr.write(`  operator requests while syncing: ${JSON.stringify(sync.byResource)}\n`);
    process.stderr.write(`  operator requests while idle: ${JSON.stringify(diff(atSync, afterIdle).byResource)}\n`);
    process.stderr.write(`  operator requests from 410 Gone to 2 s after its relist: ${JSON.stringify(relist.byResource)}\n`);
    const metrics = {
      registered_s: Math.round(registeredMs / 10) / 100,
      synced_s: Math.round(syncedMs / 10) / 100,
      rss_peak_mb: procMemoryMb(operator.pid).peakMb,
      operator_cpu_s: Math.round(operatorCpuS * 100) / 100,
      apiserver_cpu_s: Math.round(apiServerCpuS * 100) / 100,
      api_requests_per_s: Math.round(sync.total / (syncedMs / 1000)),
      sync_requests: sync.total,
      task_writes_per_object: Math.round((taskWrites(sync) / count) * 1000) / 1000,
      idle_writes: writes(diff(atSync, afterIdle)),
      relist_s: Math.round(relistMs / 10) / 100,
      relist_requests: diff(beforeRelist, atRelist).total,
      relist_writes: writes(relist),
      relist_task_writes: taskWrites(relist),
    };
    return { metrics, config: { tasks: count, namespaces: 'default', backend: 'postgres', idleWindowMs: idleMs, relistTrailMs: 2000 } };
  } finally {
    // SIGTERM first, so a profiled operator writes its profile
    for (const proc of running) proc.kill('SIGTERM');
    await Promise.all(running.map((proc) => proc.waitForExit(10_000).catch(() => undefined)));
    await killAll();
    await sql.end().catch(() => {});
    await kube.close();
    await database.drop().catch(() => {});
    tmp.remove();
  }
}
