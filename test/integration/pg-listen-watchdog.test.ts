/**
 * The LISTEN connection only reads, so a silently dead one (its peer's host vanished: no FIN, no RST) would
 * wait for notifications for ever. pg-db.ts pings it; a ping left unanswered for its deadline replaces the
 * connection at once. It used to wait out the query deadline (40 s by default) while the next pings piled
 * up on the dead client, and then for the dead socket's end before reconnecting.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { type Db, openPgDb } from '../../core/store/index.ts';
import { startFaultProxy, viaProxy, type FaultProxy } from '../support/fault-proxy.ts';
import { createTestDatabase, skipUnless } from '../support/services.ts';

/** the production default (config: database.query_timeout_seconds): far longer than a LISTEN ping may take */
const QUERY_TIMEOUT_MS = 40_000;
/** a ping every 5 s, its deadline, a reconnect: well inside the query deadline */
const NOTICED_WITHIN_MS = 15_000;
const CHANNEL = 'hg_listen_watchdog';

describe('the LISTEN connection of a database handle', { skip: await skipUnless('postgres') }, () => {
  let testDb: { url: string; drop: () => Promise<void> };
  let proxy: FaultProxy;
  let db: Db;
  let direct: pg.Client;
  before(async () => {
    testDb = await createTestDatabase();
    const url = new URL(testDb.url);
    proxy = await startFaultProxy({ host: url.hostname, port: Number(url.port || 5432) });
    db = await openPgDb({ url: viaProxy(testDb.url, proxy), maxConnections: 2, queryTimeoutMs: QUERY_TIMEOUT_MS });
    direct = new pg.Client({ connectionString: testDb.url });
    await direct.connect();
  });
  after(async () => {
    await direct?.end();
    proxy?.restore();
    await db?.close();
    await proxy?.close();
    await testDb?.drop();
  });

  it('is replaced within seconds once its peer goes silent, and hears notifications again', async () => {
    const heard: string[] = [];
    await db.listen(CHANNEL, (payload) => heard.push(payload));
    await direct.query(`NOTIFY ${CHANNEL}, 'before'`);
    await until(() => heard.includes('before'), 5000, 'the notification before the fault');

    const blackholed = proxy.blackholeOpen();
    assert.ok(blackholed >= 1, 'the LISTEN connection went through the proxy');
    const silentSince = Date.now();
    // notifications sent while nobody listens are lost (NOTIFY is a hint): send until one is heard
    let sent = 0;
    await until(async () => {
      await direct.query(`SELECT pg_notify($1, $2)`, [CHANNEL, `after-${++sent}`]);
      return heard.some((p) => p.startsWith('after-'));
    }, NOTICED_WITHIN_MS, `a notification after the LISTEN connection went silent (query deadline ${QUERY_TIMEOUT_MS} ms)`);
    const tookMs = Date.now() - silentSince;
    assert.ok(tookMs < NOTICED_WITHIN_MS, `heard again after ${tookMs} ms`);
  });
});

async function until(check: () => boolean | Promise<boolean>, withinMs: number, what: string): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${withinMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
