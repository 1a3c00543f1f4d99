/**
 * Scenario 6: the speed as history grows. In one case, two databases in turn: one with 1,000 tasks and no
 * history, then one with the same tasks and N finished runs (bench/lib/history-fill.ts, 10,000,000; quick:
 * 20,000). On each: (a) the `throughput` measurement (no-op jobs in bulk, one worker at concurrency 50;
 * the same code), and (b) the REST API's run lists as the console and the CLI call them, ~200 calls each
 * one after the other on one keep-alive connection, p50 and p99. The ratios are history / empty. Before
 * both, the same pass on a third empty database warms the process up; its figures are discarded.
 * Hourglass only: the peers keep no run history to list (BullMQ keeps completed jobs, with no list by
 * task, status or pool; pg-boss keeps them 7 days; graphile-worker deletes them).
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import pg from 'pg';
import { pino } from 'pino';
import { encodeCursor } from '../../api/cursor.ts';
import { buildApi } from '../../api/server.ts';
import { loadConfig } from '../../core/config/index.ts';
import { systemClock } from '../../core/clock/index.ts';
import type { CoreContext } from '../../core/dispatch/context.ts';
import { createTaskFromInput } from '../../core/dispatch/tasks.ts';
import { migrate, openPgDb } from '../../core/store/index.ts';
import { SERVICE_URLS } from '../../test/support/services.ts';
import { createMetrics } from '../../core/telemetry/metrics.ts';
import { fillHistory, historyShape, type HistoryShape } from '../lib/history-fill.ts';
import { latencies } from '../lib/stats.ts';
import { HourglassSystem } from '../systems/hourglass.ts';
import type { SystemName } from '../systems/types.ts';
import { throughput } from './throughput.ts';

const API_KEY = 'bench-key';
/** per list: at most this long, however many calls that is (a list that takes seconds still finishes) */
const LIST_BUDGET_MS = 30_000;
const WARMUP_CALLS = 3;

export function historyCalls(quick: boolean): number {
  return quick ? 20 : 200;
}

interface ListContext {
  /** an id from the middle of the table: a page deep in the history */
  midId: number;
  nowMs: number;
}

/** The run lists of the console and the CLI (console/src/views, cli/commands/run.ts); call i varies the task and pool. */
const LISTS: Record<string, (i: number, c: ListContext) => string> = {
  // console: schedules view (recent runs), run view (a task's attempts: task, limit 100)
  all: () => '/api/task-runs?limit=50',
  all_deep: (_i, c) => `/api/task-runs?limit=50&cursor=${encodeCursor({ id: String(c.midId) })}`,
  // console: task view's history (task, limit 50, then cursor); CLI `run list --task`
  task: (i) => `/api/task-runs?task=${histTask(i)}&limit=50`,
  task_deep: (i, c) => `/api/task-runs?task=${histTask(i)}&limit=50&cursor=${encodeCursor({ id: String(c.midId) })}`,
  task_route: (i) => `/api/tasks/${histTask(i)}/runs?limit=50`,
  // console: task view's status filter; CLI's example `run list --task T --status failed --from 7d`
  task_failed: (i) => `/api/task-runs?task=${histTask(i)}&status=failed&limit=50`,
  task_failed_7d: (i, c) => `/api/task-runs?task=${histTask(i)}&status=failed&from=${new Date(c.nowMs - 7 * 86_400_000).toISOString()}&limit=50`,
  // CLI `run list --status failed`; console system view: failed and timed out, 10
  status: () => '/api/task-runs?status=failed&limit=50',
  status_multi: () => '/api/task-runs?status=failed,timed_out&limit=10',
  // CLI `run list --pool`
  pool: (i) => `/api/task-runs?pool=pool-${i % 10}&limit=50`,
  // console timeline: the last 24 hours, 500
  last_24h: (_i, c) => `/api/task-runs?from=${new Date(c.nowMs - 86_400_000).toISOString()}&limit=500`,
};

const histTask = (i: number) => `hist-${String((i * 37) % 1000).padStart(4, '0')}`;

interface Measured {
  /** NaN when this case copied a template another case filled */
  fillMs: number;
  copyMs: number;
  tableMb: number;
  throughput: Record<string, number>;
  lists: Record<string, { p50_ms: number; p99_ms: number }>;
}

export async function historyCase(name: SystemName, quick: boolean): Promise<{ metrics: Record<string, number>; config: Record<string, unknown> }> {
  if (!name.startsWith('hourglass/')) throw new Error('history: Hourglass only (the peers keep no run history to list)');
  const backend = name.slice('hourglass/'.length) as 'postgres' | 'redis_stream' | 'rabbitmq';
  const shape = historyShape(quick);
  // a fresh process runs its first measurement with cold JIT: a warm-up pass (discarded) so that the empty
  // and the full measurement start equally warm (quick: no meaningful figures, no warm-up)
  if (!quick) await measure(backend, quick, { ...shape, runs: 0 });
  const empty = await measure(backend, quick, { ...shape, runs: 0 });
  const full = await measure(backend, quick, shape);
  const ratio = (a: number | undefined, b: number | undefined) => Math.round(((a ?? NaN) / (b ?? NaN)) * 100) / 100;
  const metrics: Record<string, number> = { hg_runs_mb: full.tableMb };
  // fill_s from the case that wrote the history, copy_s from those that copied it
  if (Number.isFinite(full.fillMs)) metrics.fill_s = Math.round(full.fillMs / 100) / 10;
  if (Number.isFinite(full.copyMs)) metrics.copy_s = Math.round(full.copyMs / 100) / 10;
  for (const key of ['e2e_per_s', 'processing_per_s', 'client_cpu_us_per_job', 'postgres_cpu_us_per_job', 'history_writer_busy_pct']) {
    if (full.throughput[key] === undefined) continue;
    metrics[`empty_${key}`] = empty.throughput[key] as number;
    metrics[key] = full.throughput[key];
  }
  // history / empty: 1.00 is no slower; the target is >= 0.90 for the rates
  metrics.e2e_ratio = ratio(full.throughput.e2e_per_s, empty.throughput.e2e_per_s);
  metrics.processing_ratio = ratio(full.throughput.processing_per_s, empty.throughput.processing_per_s);
  for (const list of Object.keys(LISTS)) {
    metrics[`empty_api_${list}_p50_ms`] = empty.lists[list]?.p50_ms ?? NaN;
    metrics[`api_${list}_p50_ms`] = full.lists[list]?.p50_ms ?? NaN;
    metrics[`empty_api_${list}_p99_ms`] = empty.lists[list]?.p99_ms ?? NaN;
    metrics[`api_${list}_p99_ms`] = full.lists[list]?.p99_ms ?? NaN;
  }
  return { metrics, config: { runs: shape.runs, tasks: shape.tasks, pools: shape.pools, fillSessions: shape.sessions, callsPerList: historyCalls(quick), ...full.config } };

  async function measure(kind: typeof backend, quickMode: boolean, fill: typeof shape): Promise<Measured & { config: Record<string, unknown> }> {
    const system = new HourglassSystem(kind);
    // BENCH_HISTORY_TEMPLATE (run.ts sets it): the history is written once per run into that database, and
    // each case measures a copy of it (a file copy, ~30 s for 10M runs, instead of a fill of many minutes)
    const template = fill.runs > 0 ? process.env.BENCH_HISTORY_TEMPLATE : undefined;
    let fillMs = NaN;
    let copyMs = NaN;
    if (template) {
      fillMs = await ensureTemplate(template, fill);
      const started = performance.now();
      await system.setup(await copyDatabase(template));
      copyMs = performance.now() - started;
    } else {
      await system.setup();
    }
    try {
      if (!template) {
        const started = performance.now();
        await fillHistory(system.url, await historySpec(system.ctx), fill);
        fillMs = performance.now() - started;
      }
      const measured = await throughput(system, { quick: quickMode }, { noopOnly: true });
      const lists = await timeLists(system, quickMode);
      const { rows } = await system.ctx.db.query<{ mb: number }>(`SELECT (pg_total_relation_size('hg_runs') / 1048576)::int AS mb`);
      return { fillMs, copyMs, tableMb: rows[0]?.mb ?? NaN, throughput: measured, lists, config: system.config };
    } finally {
      await system.teardown();
    }
  }
}

/** The spec the history's tasks are cloned from: a shell task on a 5-minute schedule, validated as the API would. */
async function historySpec(ctx: CoreContext): Promise<Record<string, unknown>> {
  const task = await createTaskFromInput(ctx, {
    name: 'hist-template', type: 'shell', shell: { command: ['sh', '-c', './report.sh --daily'] }, schedule: '*/5 * * * *', timeoutSeconds: 30,
  });
  await ctx.db.query(`DELETE FROM hg_tasks WHERE id = $1`, [task.id]);
  return task.spec as unknown as Record<string, unknown>;
}

const adminQuery = async <Row = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<Row[]> => {
  const admin = new pg.Client({ connectionString: SERVICE_URLS.postgres });
  await admin.connect();
  try {
    return (await admin.query(sql, params)).rows as Row[];
  } finally {
    await admin.end();
  }
};

const databaseUrl = (name: string) => {
  const url = new URL(SERVICE_URLS.postgres);
  url.pathname = `/${name}`;
  return url.toString();
};

/** Migrates and fills the template database `name` unless it exists; returns the fill's time (NaN when it existed). */
async function ensureTemplate(name: string, shape: HistoryShape): Promise<number> {
  if ((await adminQuery(`SELECT 1 FROM pg_database WHERE datname = $1`, [name])).length > 0) return NaN;
  await adminQuery(`CREATE DATABASE ${name}`);
  const logger = pino({ level: 'silent' });
  const db = await openPgDb({ url: databaseUrl(name), maxConnections: 2, logger });
  try {
    await migrate(db);
    const ctx = { db, logger, clock: systemClock, now: Date.now } as unknown as CoreContext;
    const started = performance.now();
    await fillHistory(databaseUrl(name), await historySpec(ctx), shape);
    return performance.now() - started;
  } catch (error) {
    await db.close().catch(() => {});
    await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    throw error;
  } finally {
    await db.close().catch(() => {});
  }
}

/** A fresh database copied from the template file by file (not through the WAL: PG 15's default would write it all twice). */
async function copyDatabase(template: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `hg_test_${randomBytes(6).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${name} TEMPLATE ${template} STRATEGY FILE_COPY`);
  return { url: databaseUrl(name), drop: async () => void (await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)) };
}

/** Drops the template (run.ts, after the scenario). */
export async function dropHistoryTemplate(name: string): Promise<void> {
  await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}

/** The real API (buildApi, as `scheduler --mode api` builds it) on the system's database, API-key auth, no rate limit. */
async function timeLists(system: HourglassSystem, quick: boolean): Promise<Record<string, { p50_ms: number; p99_ms: number }>> {
  const { config } = loadConfig({ env: { API_KEYS: JSON.stringify({ [API_KEY]: ['Admin'] }) } });
  config.api.auth.enabled = true;
  config.api.rate_limiting.enabled = false;
  const api = await buildApi({ ctx: system.ctx, logger: pino({ level: 'silent' }), version: 'bench', metrics: createMetrics(), api: config.api });
  await api.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(api.server.address() as { port: number }).port}`;
  try {
    const { rows } = await system.ctx.db.query<{ id: string }>(`SELECT (max(id) / 2)::text AS id FROM hg_runs`);
    const context: ListContext = { midId: Number(rows[0]?.id ?? 1), nowMs: Date.now() };
    const out: Record<string, { p50_ms: number; p99_ms: number }> = {};
    for (const [name, url] of Object.entries(LISTS)) {
      const samples: number[] = [];
      const until = performance.now() + LIST_BUDGET_MS;
      for (let i = 0; i < WARMUP_CALLS + historyCalls(quick) && (performance.now() < until || samples.length === 0); i++) {
        const started = performance.now();
        const response = await fetch(`${base}${url(i, context)}`, { headers: { 'x-api-key': API_KEY } });
        const body = await response.text();
        if (response.status !== 200) throw new Error(`${name}: HTTP ${response.status} ${body.slice(0, 300)}`);
        if (i >= WARMUP_CALLS) samples.push(performance.now() - started);
      }
      const { p50_ms, p99_ms } = latencies(samples);
      out[name] = { p50_ms, p99_ms };
      if (process.env.BENCH_HISTORY_EXPLAIN) await explain(system, `${base}${url(0, context)}`, name, process.env.BENCH_HISTORY_EXPLAIN);
    }
    return out;
  } finally {
    await api.close();
  }
}

/**
 * BENCH_HISTORY_EXPLAIN=FILE: one more call of the list, the run queries it sent captured and appended to
 * FILE with their EXPLAIN (ANALYZE, BUFFERS), for the table's size and system named in the header.
 */
async function explain(system: HourglassSystem, url: string, name: string, file: string): Promise<void> {
  const db = system.ctx.db;
  const original = db.query.bind(db);
  const captured: Array<{ sql: string; params: unknown[] }> = [];
  db.query = ((sql: string, params?: unknown[]) => {
    // the lists' queries only, not the worker's, which shares the pool
    if (/FROM hg_runs r JOIN hg_tasks t ON t.id = r.task_id/.test(sql)) captured.push({ sql, params: params ?? [] });
    return original(sql, params);
  }) as typeof db.query;
  try {
    await (await fetch(url, { headers: { 'x-api-key': API_KEY } })).text();
  } finally {
    db.query = original;
  }
  const { rows: size } = await original<{ n: string }>(`SELECT reltuples::bigint::text AS n FROM pg_class WHERE relname = 'hg_runs'`);
  for (const { sql, params } of captured) {
    const { rows } = await original<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${sql}`, params);
    appendFileSync(file, `== ${system.name} ${name} (hg_runs ~${size[0]?.n} rows) ${url.replace(/^http:\/\/[^/]+/, '')}\n${sql.replace(/\s+/g, ' ')}\n${JSON.stringify(params)}\n${rows.map((r) => r['QUERY PLAN']).join('\n')}\n\n`);
  }
}
