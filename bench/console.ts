/**
 * First meaningful paint of the web console with 10,000 tasks and 1,000,000 runs in Postgres (issue 17):
 *
 *   node bench/console.ts                       10,000 tasks, 1,000,000 runs, 5 cold loads
 *   node bench/console.ts --tasks 1000 --runs-per-task 10 --loads 3    a smaller smoke run
 *
 * Seeds a fresh database (dropped afterwards), starts `scheduler --mode api` on it (auth off, as in
 * development) and opens the console in Debian's Chromium, in a fresh browser context for every load
 * (cold cache, no storage) of a browser already running, as a user's is. "Meaningful paint" is the first animation frame after the first row of the schedules table is
 * in the document: the moment a user sees tasks. First contentful paint and the list request the view
 * paints from (GET /api/tasks; the trends request follows the paint) are reported beside it. The server is warmed by one request of each kind first (a console is
 * opened on a running server); the browser cache is cold on every load. Needs a built console (npm run build).
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { TaskInput, splitTaskInput } from '../core/model/index.ts';
import { chromium, type Browser } from 'playwright-core';
import { assertConsoleBuilt, CHROMIUM, CHROMIUM_ARGS } from '../test/console/browser.ts';
import { freePort, killAll, startProcess, tempDir } from '../test/support/processes.ts';
import { SERVICE_URLS } from '../test/support/services.ts';

const { values } = parseArgs({
  options: {
    tasks: { type: 'string', default: '10000' },
    'runs-per-task': { type: 'string', default: '100' },
    loads: { type: 'string', default: '5' },
  },
});
const TASKS = Number(values.tasks);
const RUNS_PER_TASK = Number(values['runs-per-task']);
const LOADS = Number(values.loads);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const round = (ms: number) => Math.round(ms);

async function seed(url: string): Promise<void> {
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    const { spec } = splitTaskInput(TaskInput.parse({ name: 'x', type: 'shell', shell: { command: ['true'] }, schedule: '0 * * * *' }));
    const started = Date.now();
    // varied schedules and labels, like a real fleet; the schedule's minute comes from the task number
    await db.query(
      `INSERT INTO hg_tasks (id, namespace, name, source, labels, spec)
       SELECT gen_random_uuid(), '', 'task-' || lpad(i::text, 5, '0'), 'api',
              jsonb_build_object('team', 'team-' || (i % 20)),
              $1::jsonb || jsonb_build_object('schedule', (i % 60) || ' * * * *')
       FROM generate_series(1, $2::int) AS i`,
      [JSON.stringify(spec), TASKS],
    );
    // RUNS_PER_TASK hourly runs per task, newest an hour ago; one in ten failed
    await db.query(
      `INSERT INTO hg_runs (task_id, scheduled_time, trigger, status, pool, queued_at, started_at, finished_at, exit_code, worker_id)
       SELECT t.id, date_trunc('hour', now()) - g * interval '1 hour', 'schedule',
              CASE WHEN g % 10 = 0 THEN 'failed' ELSE 'succeeded' END, 'default',
              date_trunc('hour', now()) - g * interval '1 hour',
              date_trunc('hour', now()) - g * interval '1 hour' + interval '1 second',
              date_trunc('hour', now()) - g * interval '1 hour' + interval '1 second' + (random() * 30) * interval '1 second',
              CASE WHEN g % 10 = 0 THEN 1 ELSE 0 END, 'bench-worker'
       FROM hg_tasks t CROSS JOIN generate_series(1, $1::int) AS g`,
      [RUNS_PER_TASK],
    );
    await db.query('ANALYZE');
    const counts = await db.query('SELECT (SELECT count(*) FROM hg_tasks) AS tasks, (SELECT count(*) FROM hg_runs) AS runs');
    console.error(`seeded ${counts.rows[0].tasks} tasks and ${counts.rows[0].runs} runs in ${round((Date.now() - started) / 1000)} s`);
  } finally {
    await db.end();
  }
}

interface Load {
  meaningfulPaintMs: number;
  firstContentfulPaintMs: number;
  tasksRequestMs: number;
}

// Runs in the page before its own scripts (through DevTools, so the console's CSP does not apply).
const OBSERVER = `
  new MutationObserver((_, observer) => {
    if (document.querySelector('main tbody tr')) {
      observer.disconnect();
      requestAnimationFrame(() => { window.__firstRows = performance.now(); });
    }
  }).observe(document, { childList: true, subtree: true });
`;

/** One load in a fresh browser context (empty cache and storage) of an already running browser. */
async function measure(browser: Browser, base: string): Promise<Load> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  try {
    const page = await context.newPage();
    await page.addInitScript(OBSERVER);
    await page.goto(`${base}/`, { waitUntil: 'commit' });
    await page.waitForFunction(() => (globalThis as unknown as { __firstRows?: number }).__firstRows !== undefined, undefined, { timeout: 30_000 });
    return await page.evaluate(() => {
      const entry = (name: string) => performance.getEntriesByType('resource').find((e) => e.name.includes(name));
      return {
        meaningfulPaintMs: (globalThis as unknown as { __firstRows: number }).__firstRows,
        firstContentfulPaintMs: performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN,
        tasksRequestMs: entry('/api/tasks?')?.duration ?? NaN,
      };
    });
  } finally {
    await context.close();
  }
}

async function main(): Promise<void> {
  assertConsoleBuilt();
  const name = `hg_console_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: SERVICE_URLS.postgres });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(SERVICE_URLS.postgres);
  url.pathname = `/${name}`;
  const tmp = tempDir('hg-console-bench-');
  try {
    const env = { ENVIRONMENT: 'development', DATABASE_URL: url.toString(), MESSAGE_QUEUE_TYPE: 'postgres', LOG_FORMAT: 'json', API_KEYS: undefined };
    const migrate = startProcess({ name: 'migrate', args: ['migrate', 'run'], env });
    const { code } = await migrate.waitForExit(60_000);
    if (code !== 0) throw new Error(`migrate run failed:\n${migrate.lines.join('\n')}`);
    await seed(url.toString());
    const config = path.join(tmp.dir, 'bench.toml');
    writeFileSync(config, '[api.auth]\nenabled = false\n');
    const port = await freePort();
    const api = startProcess({ name: 'api', args: ['--mode', 'api', '--config', config], env: { ...env, API_BIND_ADDRESS: `127.0.0.1:${port}` } });
    await api.waitForLine(/API listening/, 30_000);
    // a console is opened on a server that is already running: warm it (and Postgres) up first
    for (const warm of ['/', '/api/tasks?limit=50', '/api/task-runs?limit=500']) await (await fetch(`http://127.0.0.1:${port}${warm}`)).arrayBuffer();
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    const loads: Load[] = [];
    for (let i = 0; i < LOADS; i += 1) {
      const load = await measure(browser, `http://127.0.0.1:${port}`);
      loads.push(load);
      console.error(`load ${i + 1}: meaningful paint ${round(load.meaningfulPaintMs)} ms, FCP ${round(load.firstContentfulPaintMs)} ms, GET /api/tasks ${round(load.tasksRequestMs)} ms`);
    }
    await browser.close();
    const column = (key: keyof Load) => loads.map((l) => l[key]);
    const summary = {
      tasks: TASKS,
      runs: TASKS * RUNS_PER_TASK,
      loads: LOADS,
      meaningfulPaintMs: { median: round(median(column('meaningfulPaintMs'))), max: round(Math.max(...column('meaningfulPaintMs'))) },
      firstContentfulPaintMs: { median: round(median(column('firstContentfulPaintMs'))) },
      tasksRequestMs: { median: round(median(column('tasksRequestMs'))) },
      bar: 'meaningful paint < 1000 ms',
      // the figures mean little on a busy machine: the load average is reported beside them
      loadAverage: loadavg().map((l) => Number(l.toFixed(1))),
    };
    console.log(JSON.stringify(summary, null, 2));
    if (summary.meaningfulPaintMs.max >= 1000) process.exitCode = 1;
  } finally {
    await killAll();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
    tmp.remove();
  }
}

await main();
