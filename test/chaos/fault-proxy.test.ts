import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { openPgDb } from '../../core/store/pg-db.ts';
import type { Db } from '../../core/store/db.ts';
import { startFaultProxy, viaProxy, type FaultProxy } from '../support/fault-proxy.ts';
import { SERVICE_URLS, skipUnless } from '../support/services.ts';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe('the fault proxy, and what the store does when it strikes', { skip: await skipUnless('postgres') }, () => {
  let proxy: FaultProxy;
  let url: string;
  before(async () => {
    const real = new URL(SERVICE_URLS.postgres);
    proxy = await startFaultProxy({ host: real.hostname, port: Number(real.port || 5432) });
    url = viaProxy(SERVICE_URLS.postgres, proxy);
  });
  after(async () => {
    await proxy.close();
  });

  it('forwards, stalls (the query waits, then completes), cuts (reset, refused) and restores', async () => {
    const client = new pg.Client({ connectionString: url });
    client.on('error', () => {});
    await client.connect();
    assert.equal((await client.query('SELECT 1 AS one')).rows[0].one, 1);
    assert.equal(proxy.connections, 1);

    proxy.stall();
    const started = Date.now();
    const stalled = client.query('SELECT 2 AS two');
    await sleep(600);
    proxy.restore();
    assert.equal((await stalled).rows[0].two, 2);
    assert.ok(Date.now() - started >= 500, 'the stalled query answered before the restore');

    proxy.cut();
    await assert.rejects(client.query('SELECT 3'), 'a query on a cut connection fails');
    const refused = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
    refused.on('error', () => {});
    await assert.rejects(refused.connect(), 'a new connection is refused while cut');
    proxy.restore();

    const again = new pg.Client({ connectionString: url });
    await again.connect();
    assert.equal((await again.query('SELECT 4 AS four')).rows[0].four, 4);
    await again.end();
  });

  it('a connection reset in the middle of a transaction fails that transaction and does not crash the process', async () => {
    // Before the fix in core/store/pg-db.ts a checked-out client had no 'error' listener: this reset was an
    // unhandled 'error' event, and every dispatcher died on the chaos suite's first cut-database.
    let db: Db | undefined;
    const uncaught: Error[] = [];
    const onUncaught = (error: Error) => uncaught.push(error);
    process.on('uncaughtException', onUncaught);
    try {
      db = await openPgDb({ url, maxConnections: 2 });
      const inFlight = db.transaction((tx) => tx.query('SELECT pg_sleep(3)'));
      await sleep(300);
      proxy.cut();
      await assert.rejects(inFlight, 'the transaction fails with the connection');
      await sleep(200);
      proxy.restore();
      assert.deepEqual(uncaught.map((e) => e.message), [], 'an uncaught exception escaped the store');
      const { rows } = await db.query<{ ok: number }>('SELECT 1 AS ok');
      assert.equal(rows[0]?.ok, 1, 'the pool recovers once the database is back');
    } finally {
      process.off('uncaughtException', onUncaught);
      proxy.restore();
      await db?.close();
    }
  });

  it('a query on a silently dead pooled connection fails within query_timeout, and the pool replaces the connection', async () => {
    // Before query_timeout (core/store/pg-db.ts) this query waited for the kernel to give the socket up:
    // about 15 minutes of retransmissions, during which the dispatcher was blocked (issue 12, defect 4).
    const db = await openPgDb({ url, maxConnections: 1, queryTimeoutMs: 1000 });
    try {
      assert.equal((await db.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one, 1);
      assert.equal(proxy.blackholeOpen(), 1, 'the pooled connection is blackholed');
      const started = Date.now();
      await assert.rejects(db.query('SELECT 2'), /timeout/i);
      const waited = Date.now() - started;
      assert.ok(waited >= 900 && waited < 3000, `failed after ${waited} ms`);
      // the only pooled connection was dead: the next query must get a new one, not wait behind the old
      assert.equal((await db.query<{ three: number }>('SELECT 3 AS three')).rows[0]?.three, 3);

      proxy.blackholeOpen();
      const txStarted = Date.now();
      await assert.rejects(db.transaction((tx) => tx.query('SELECT 4')), /timeout/i);
      assert.ok(Date.now() - txStarted < 3000, `the transaction failed after ${Date.now() - txStarted} ms (a ROLLBACK waited?)`);
      assert.equal((await db.transaction((tx) => tx.query<{ five: number }>('SELECT 5 AS five'))).rows[0]?.five, 5);
    } finally {
      await db.close();
    }
  });
});
