import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { buildApi } from '../../api/server.ts';
import { systemClock } from '../../core/clock/index.ts';
import type { CoreContext } from '../../core/dispatch/context.ts';
import { applyStatusEvents } from '../../core/dispatch/status.ts';
import { createPostgresProducer } from '../../core/queue/postgres.ts';
import type { Db } from '../../core/store/db.ts';
import { migrate } from '../../core/store/migrate.ts';
import { openPgDb } from '../../core/store/pg-db.ts';
import { createMetrics } from '../../core/telemetry/metrics.ts';
import { startFaultProxy, viaProxy, type FaultProxy } from '../support/fault-proxy.ts';
import { createTestDatabase, skipUnless } from '../support/services.ts';

const skip = await skipUnless('postgres');

/**
 * A database outage is the moment's fault, not a bug of the server: the API answers 503
 * HG_ERR_STORE_UNAVAILABLE with Retry-After (a client may retry), logs one line per request rather than a
 * stack, and serves again once the database is back.
 */
describe('REST API during a database outage', { skip }, () => {
  let testDb: { url: string; drop: () => Promise<void> };
  let proxy: FaultProxy;
  let db: Db;
  let app: FastifyInstance;
  const lines: Array<Record<string, unknown>> = [];

  before(async () => {
    testDb = await createTestDatabase();
    const real = new URL(testDb.url);
    proxy = await startFaultProxy({ host: real.hostname, port: Number(real.port || 5432) });
    db = await openPgDb({ url: viaProxy(testDb.url, proxy), maxConnections: 2, queryTimeoutMs: 1000, connectionTimeoutMs: 1000 });
    await migrate(db);
    const logger = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
          done();
        },
      }),
    );
    const ctx: CoreContext = { db, logger, clock: systemClock, now: () => Date.now(), queue: createPostgresProducer({ db, applyStatus: (events) => applyStatusEvents(ctx, events) }) };
    app = await buildApi({ ctx, logger, version: 'test', metrics: createMetrics() });
  });
  after(async () => {
    await app?.close();
    await db?.close();
    await proxy?.close();
    await testDb?.drop();
  });

  const shellTask = { name: 'report', type: 'shell', schedule: '@every 10s', shell: { command: ['true'] } };

  for (const [fault, inject] of [
    ['cut (connections reset and refused)', (p: FaultProxy) => p.cut()],
    ['stalled (no answer until the query deadline)', (p: FaultProxy) => p.stall()],
  ] as const) {
    it(`answers 503 with Retry-After while the database is ${fault}, and serves again after`, async () => {
      assert.equal((await app.inject({ method: 'GET', url: '/api/tasks' })).statusCode, 200);
      lines.length = 0;
      inject(proxy);
      try {
        for (const request of [
          { method: 'GET' as const, url: '/api/tasks' },
          { method: 'POST' as const, url: '/api/tasks', payload: { ...shellTask, name: `t-${Date.now()}` } },
        ]) {
          const response = await app.inject(request);
          assert.equal(response.statusCode, 503, `${request.method} ${request.url}: ${response.body}`);
          assert.equal(response.headers['retry-after'], '1');
          const body = response.json<{ code: string; retryable: boolean; detail: string }>();
          assert.equal(body.code, 'HG_ERR_STORE_UNAVAILABLE');
          assert.equal(body.retryable, true);
          assert.doesNotMatch(body.detail, /ECONN|SELECT|INSERT|timeout/i, 'no internals reach the client');
        }
      } finally {
        proxy.restore();
      }
      const failures = lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('request failed'));
      assert.ok(failures.length >= 2, 'each refused request is logged');
      for (const line of failures) {
        assert.equal(line.level, 40, 'logged as a warning, not an error');
        assert.equal(typeof line.err, 'string', 'one line, not a stack');
      }
      // the pool replaces what the fault broke: the same request is served again
      let status = 0;
      for (let i = 0; i < 20 && status !== 200; i++) status = (await app.inject({ method: 'GET', url: '/api/tasks' })).statusCode;
      assert.equal(status, 200);
    });
  }

  it('still answers 500 HG_ERR_INTERNAL, logged as an error, for a failure that is not the database being away', async () => {
    lines.length = 0;
    await db.query('ALTER TABLE hg_tasks RENAME TO hg_tasks_gone');
    try {
      const response = await app.inject({ method: 'GET', url: '/api/tasks' });
      assert.equal(response.statusCode, 500);
      assert.equal(response.json<{ code: string }>().code, 'HG_ERR_INTERNAL');
      assert.equal(response.headers['retry-after'], undefined);
      assert.ok(lines.some((l) => l.msg === 'request failed' && l.level === 50));
    } finally {
      await db.query('ALTER TABLE hg_tasks_gone RENAME TO hg_tasks');
    }
  });
});
