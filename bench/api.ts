/**
 * API overhead: requests/s and p50/p99 latency of GET /api/tasks/{id} and POST /api/tasks/{id}/trigger,
 * next to a bare fastify route served by the same process in the same run, so the ratio shows what the
 * API adds (auth, validation, Postgres) over fastify itself on this machine.
 *
 *   node bench/api.ts [seconds per scenario = 5] [concurrent clients = 16]
 *
 * The load generator runs in a worker thread (its own event loop): N keep-alive clients, each sending its
 * next request when the previous answer arrived. Needs the Postgres of the test suite (TEST_DATABASE_URL).
 */
import { systemClock } from '../core/clock/index.ts';
import { Worker } from 'node:worker_threads';
import Fastify from 'fastify';
import { pino } from 'pino';
import { buildApi } from '../api/server.ts';
import { loadConfig } from '../core/config/index.ts';
import type { CoreContext } from '../core/dispatch/context.ts';
import { applyStatusEvents } from '../core/dispatch/status.ts';
import { createPostgresProducer } from '../core/queue/postgres.ts';
import { migrate, openPgDb } from '../core/store/index.ts';
import { createMetrics } from '../core/telemetry/metrics.ts';
import { createTestDatabase } from '../test/support/services.ts';

const seconds = Number(process.argv[2] ?? 5);
const clients = Number(process.argv[3] ?? 16);
const API_KEY = 'bench-key';

const LOAD = `
const { parentPort, workerData } = require('node:worker_threads');
const http = require('node:http');
const { url, method, headers, seconds, clients } = workerData;
const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
const target = new URL(url);
const latencies = [];
let errors = 0;
const warmupEnd = Date.now() + 1000;
const end = warmupEnd + seconds * 1000;
function once() {
  return new Promise((resolve) => {
    const started = performance.now();
    const req = http.request({ host: target.hostname, port: target.port, path: target.pathname, method, headers, agent }, (res) => {
      res.resume();
      res.on('end', () => {
        if (Date.now() > warmupEnd) {
          if (res.statusCode >= 400) errors++;
          latencies.push(performance.now() - started);
        }
        resolve();
      });
    });
    req.on('error', () => { errors++; resolve(); });
    req.end(method === 'POST' ? '' : undefined);
  });
}
async function client() { while (Date.now() < end) await once(); }
Promise.all(Array.from({ length: clients }, client)).then(() => {
  agent.destroy();
  parentPort.postMessage({ latencies, errors, seconds });
});
`;

interface Result {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

function load(name: string, url: string, method: 'GET' | 'POST', headers: Record<string, string>): Promise<Result> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(LOAD, { eval: true, workerData: { url, method, headers, seconds, clients } });
    worker.once('error', reject);
    worker.once('message', (m: { latencies: number[]; errors: number; seconds: number }) => {
      const sorted = m.latencies.sort((a, b) => a - b);
      const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
      resolve({ name, rps: sorted.length / m.seconds, p50: at(0.5), p99: at(0.99), errors: m.errors });
      void worker.terminate();
    });
  });
}

const logger = pino({ level: 'warn' });
const database = await createTestDatabase();
const db = await openPgDb({ url: database.url, maxConnections: 10, logger });
await migrate(db);
const holder: { ctx?: CoreContext } = {};
const ctx: CoreContext = { db, logger, clock: systemClock, now: Date.now, queue: createPostgresProducer({ db, applyStatus: (e) => applyStatusEvents(holder.ctx as CoreContext, e) }) };
holder.ctx = ctx;

const { config } = loadConfig({ env: { API_KEYS: JSON.stringify({ [API_KEY]: ['Admin'] }) } });
config.api.auth.enabled = true;
config.api.rate_limiting.enabled = false;
const api = await buildApi({ ctx, logger, version: 'bench', metrics: createMetrics(), api: config.api });
await api.listen({ host: '127.0.0.1', port: 0 });
const apiUrl = `http://127.0.0.1:${(api.server.address() as { port: number }).port}`;
const bare = Fastify();
bare.get('/bare', async () => ({ status: 'ok' }));
await bare.listen({ host: '127.0.0.1', port: 0 });
const bareUrl = `http://127.0.0.1:${(bare.server.address() as { port: number }).port}`;

const auth = { 'x-api-key': API_KEY };
const created = await api.inject({ method: 'POST', url: '/api/tasks', headers: auth, payload: { name: 'bench-task', type: 'noop', params: {}, pool: 'bench-nobody' } });
const taskId = (created.json() as { id: string }).id;

const results: Result[] = [];
try {
  results.push(await load('bare fastify GET /bare', `${bareUrl}/bare`, 'GET', {}));
  results.push(await load('GET /api/tasks/{id}', `${apiUrl}/api/tasks/${taskId}`, 'GET', auth));
  results.push(await load('POST /api/tasks/{id}/trigger', `${apiUrl}/api/tasks/${taskId}/trigger`, 'POST', auth));
} finally {
  await api.close();
  await bare.close();
  await db.close();
  await database.drop();
}

const base = results[0] as Result;
const rows = results.map((r) => [
  r.name,
  r.rps.toFixed(0),
  r.p50.toFixed(2),
  r.p99.toFixed(2),
  (r.rps / base.rps).toFixed(3),
  (r.p50 / base.p50).toFixed(1),
  String(r.errors),
]);
const header = ['route', 'req/s', 'p50 ms', 'p99 ms', 'req/s vs bare', 'p50 vs bare', 'errors'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] as string).length)));
const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ');
console.log(`\n${clients} keep-alive clients, ${seconds} s per route after 1 s of warm-up; auth by API key, Postgres queue, node ${process.version}\n`);
console.log(line(header));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const row of rows) console.log(line(row));
