import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { systemClock } from '../../core/clock/index.ts';
import { Dispatcher } from '../../core/dispatch/dispatcher.ts';
import { holdLeadership, leaderHeld, type Leadership } from '../../core/dispatch/leadership.ts';
import { createTaskFromInput } from '../../core/dispatch/tasks.ts';
import type { Db } from '../../core/store/db.ts';
import { acquireLease, fenceLease, LeaseLostError, readLease, renewLease } from '../../core/store/leases.ts';
import { migrate } from '../../core/store/migrate.ts';
import { openPgDb } from '../../core/store/pg-db.ts';
import { openPgliteDb } from '../../core/store/pglite-db.ts';
import { startFaultProxy, viaProxy, type FaultProxy } from '../support/fault-proxy.ts';
import { coreOnTestDatabase, silentLogger } from '../support/core.ts';
import { createTestDatabase, skipUnless } from '../support/services.ts';
import { holdTransaction } from '../support/held-transaction.ts';
import { waitFor } from '../support/processes.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const LEASE_MS = 2000;

/** holdLeadership whose work records each term it was given */
function candidate(db: Db, terms: number[], options: { leaseMs?: number } = {}): Leadership {
  return holdLeadership(db, silentLogger, async (term) => {
    terms.push(term.epoch);
    return async () => {};
  }, { clock: systemClock, leaseMs: options.leaseMs ?? LEASE_MS, retryMs: 200 });
}

describe('dispatcher leadership as a lease with a fencing epoch (issue 12, defect 4)', { skip: await skipUnless('postgres') }, () => {
  let testDb: { url: string; drop: () => Promise<void> };
  let db: Db;
  before(async () => {
    testDb = await createTestDatabase();
    db = await openPgDb({ url: testDb.url, maxConnections: 4, queryTimeoutMs: 2000 });
    await migrate(db);
  });
  after(async () => {
    await db.close();
    await testDb.drop();
  });

  it('a standby takes an expired lease with the next epoch; the old holder can neither renew nor pass its fence', async () => {
    const name = 'fence-test';
    await db.exec('CREATE TABLE IF NOT EXISTS fenced_writes (epoch bigint)');
    const a = { name, holder: 'a', epoch: (await acquireLease(db, name, 'a', T0, LEASE_MS)) as number };
    assert.equal(a.epoch, 1);
    assert.equal(await acquireLease(db, name, 'b', T0 + LEASE_MS - 1, LEASE_MS), null, 'taken before it expired');
    // a's clock and b's clock need not agree: only the epoch decides who may write
    const b = { name, holder: 'b', epoch: (await acquireLease(db, name, 'b', T0 + LEASE_MS, LEASE_MS)) as number };
    assert.equal(b.epoch, 2);
    assert.equal(await renewLease(db, a, T0 + 1, LEASE_MS), false, 'the old holder renewed a lease it lost');
    await assert.rejects(
      db.transaction(async (tx) => {
        await fenceLease(tx, a, 1000);
        await tx.query('INSERT INTO fenced_writes VALUES ($1)', [a.epoch]);
      }),
      LeaseLostError,
    );
    await db.transaction(async (tx) => {
      await fenceLease(tx, b, 1000);
      await tx.query('INSERT INTO fenced_writes VALUES ($1)', [b.epoch]);
    });
    const { rows } = await db.query<{ epoch: number }>('SELECT epoch FROM fenced_writes');
    assert.deepEqual(rows.map((r) => r.epoch), [2], 'only the current epoch wrote');
  });

  it('a takeover neither waits behind nor slips into an open fenced transaction of the holder', async () => {
    const name = 'share-test';
    const a = { name, holder: 'a', epoch: (await acquireLease(db, name, 'a', T0, LEASE_MS)) as number };
    const open = await holdTransaction(db, (tx) => fenceLease(tx, a, 10_000));
    const started = Date.now();
    assert.equal(await acquireLease(db, name, 'b', T0 + 10 * LEASE_MS, LEASE_MS), null, 'taken while a fenced decision was in flight');
    assert.ok(Date.now() - started < 1000, 'the standby waited for the holder\'s transaction');
    await open.release();
    assert.equal(await acquireLease(db, name, 'b', T0 + 10 * LEASE_MS, LEASE_MS), a.epoch + 1);
  });

  it('the holder renews while a fenced write of its own is open, and a takeover still cannot slip in', async () => {
    // a write longer than the renewal deadline (a retention pass of 100,000 tasks) cost the leader its lease
    const name = 'renew-under-fence';
    const a = { name, holder: 'a', epoch: (await acquireLease(db, name, 'a', T0, LEASE_MS)) as number };
    const open = await holdTransaction(db, (tx) => fenceLease(tx, a, 10_000));
    try {
      const renewal = renewLease(db, a, T0 + 1, LEASE_MS);
      const verdict = await Promise.race([renewal, new Promise<'held back'>((resolve) => setTimeout(() => resolve('held back'), 1500).unref())]);
      assert.equal(verdict, true, 'the renewal waited for the holder\'s own fenced transaction');
      assert.equal(await acquireLease(db, name, 'b', T0 + 10 * LEASE_MS, LEASE_MS), null, 'taken while a fenced write was in flight');
    } finally {
      await open.release();
    }
    assert.equal(await acquireLease(db, name, 'b', T0 + 10 * LEASE_MS, LEASE_MS), a.epoch + 1, 'taken once the write ended');
  });

  it('the server ends a fenced transaction whose client vanished, so the lease frees up', async () => {
    // A vanished leader's open transaction would hold the lease row FOR SHARE until Postgres noticed the
    // dead client (hours without keepalive): the fence sets idle_in_transaction_session_timeout.
    const real = new URL(testDb.url);
    const proxy: FaultProxy = await startFaultProxy({ host: real.hostname, port: Number(real.port || 5432) });
    const viaProxyDb = await openPgDb({ url: viaProxy(testDb.url, proxy), maxConnections: 1, queryTimeoutMs: 10_000 });
    try {
      const name = 'vanish-test';
      const a = { name, holder: 'a', epoch: (await acquireLease(db, name, 'a', T0, LEASE_MS)) as number };
      let fenced!: () => void;
      const inside = new Promise<void>((resolve) => (fenced = resolve));
      const doomed = viaProxyDb.transaction(async (tx) => {
        await fenceLease(tx, a, 500);
        fenced();
        await tx.query('SELECT 1');
      });
      doomed.catch(() => {});
      await inside;
      proxy.blackholeOpen();
      const started = Date.now();
      let epoch: number | null = null;
      await waitFor(async () => (epoch = await acquireLease(db, name, 'b', T0 + 10 * LEASE_MS, LEASE_MS)) !== null, 5000, 100, 'the standby to take the lease');
      assert.equal(epoch, a.epoch + 1);
      assert.ok(Date.now() - started < 3000, `the lease stayed locked ${Date.now() - started} ms`);
    } finally {
      await viaProxyDb.close().catch(() => {});
      await proxy.close();
    }
  });

  it('one leader at a time; a clean stop hands over at once; the probe reads the lease', async () => {
    const first: number[] = [];
    const second: number[] = [];
    const one = candidate(db, first);
    await waitFor(async () => one.isLeader(), 5000, 20, 'the first candidate to lead');
    const two = candidate(db, second);
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.equal(two.isLeader(), false, 'two leaders at once');
    assert.equal(await leaderHeld(db, Date.now()), true);
    const stoppedAt = Date.now();
    await one.stop();
    await waitFor(async () => two.isLeader(), 5000, 20, 'the standby to lead');
    assert.ok(Date.now() - stoppedAt < 1000, `hand-over after a clean stop took ${Date.now() - stoppedAt} ms (it should not wait for the expiry)`);
    assert.equal(second.length, 1);
    assert.ok((second[0] as number) > (first[0] as number), 'the epoch grows at a takeover');
    await two.stop();
    assert.equal(await leaderHeld(db, Date.now()), false, 'a stopped leader still counts as leader');
  });

  it('the leader\'s host vanishes: it stops leading before its lease expires, and a standby leads within 10 s', async () => {
    const real = new URL(testDb.url);
    const proxy = await startFaultProxy({ host: real.hostname, port: Number(real.port || 5432) });
    const leaderDb = await openPgDb({ url: viaProxy(testDb.url, proxy), maxConnections: 2, queryTimeoutMs: 2000 });
    const standbyTerms: number[] = [];
    const leader = candidate(leaderDb, [], { leaseMs: 5000 });
    let standby: Leadership | undefined;
    try {
      await waitFor(async () => leader.isLeader(), 5000, 20, 'the leader to lead');
      standby = candidate(db, standbyTerms, { leaseMs: 5000 });
      // every socket of the leader's host goes silent, and so does every new one: no FIN, no RST
      proxy.stall();
      const vanishedAt = Date.now();
      let stoppedLeadingAt = 0;
      await waitFor(async () => {
        if (!stoppedLeadingAt && !leader.isLeader()) stoppedLeadingAt = Date.now();
        return standby?.isLeader() === true;
      }, 12_000, 20, 'the standby to lead');
      const takeoverMs = Date.now() - vanishedAt;
      assert.ok(takeoverMs < 10_000, `the standby led ${takeoverMs} ms after the leader vanished`);
      assert.ok(stoppedLeadingAt > 0, 'the vanished leader still believed it led when the standby took over');
      const lease = await readLease(db, 'dispatcher', Date.now());
      assert.equal(lease?.epoch, standbyTerms[0]);
      // the old leader wakes up: its fence refuses it
      proxy.restore();
      await assert.rejects(leaderDb.transaction((tx) => leader.fence(tx)), LeaseLostError);
    } finally {
      proxy.restore();
      await standby?.stop();
      await leader.stop();
      await leaderDb.close().catch(() => {});
      await proxy.close();
    }
  });
});

describe('leadership on embedded PGlite', () => {
  it('leads alone, and the readiness probe sees it (pg_locks never showed PGlite\'s lock)', async () => {
    const db = await openPgliteDb(undefined);
    try {
      await migrate(db);
      const terms: number[] = [];
      const leadership = candidate(db, terms);
      await waitFor(async () => leadership.isLeader(), 5000, 20, 'the PGlite process to lead');
      assert.equal(await leaderHeld(db, Date.now()), true);
      await db.transaction((tx) => leadership.fence(tx));
      await leadership.stop();
      assert.equal(await leaderHeld(db, Date.now()), false);
      assert.deepEqual(terms, [1]);
    } finally {
      await db.close();
    }
  });
});

describe('the dispatcher writes its fires behind the leader\'s fence', { skip: await skipUnless('postgres') }, () => {
  it('fires while the fence passes; writes nothing once it refuses (a woken old leader)', async () => {
    const env = await coreOnTestDatabase();
    let refuse = false;
    let refused = 0;
    const fence = async (tx: Parameters<Leadership['fence']>[0]) => {
      await tx.query('SELECT 1');
      if (!refuse) return;
      refused++;
      throw new LeaseLostError({ name: 'dispatcher', holder: 'old', epoch: 1 });
    };
    const dispatcher = new Dispatcher({ ...env.ctx, fence }, { syncIntervalMs: 60_000, maxBatch: 1000 });
    try {
      const task = await createTaskFromInput(env.ctx, { name: 'fenced', type: 'noop', params: {}, schedule: '@every 1s' });
      await dispatcher.start();
      await waitFor(async () => (await env.db.query('SELECT 1 FROM hg_runs WHERE task_id = $1', [task.id])).rows.length > 0, 5000, 50, 'a fire');
      refuse = true;
      // the dispatcher's work is serial: once a fence refused, no fire that passed one is still in flight
      await waitFor(async () => refused >= 1, 10_000, 50, 'a fire refused by the fence');
      const { rows: [before] } = await env.db.query<{ n: number }>('SELECT count(*)::int AS n FROM hg_runs');
      await waitFor(async () => refused >= 3, 10_000, 50, 'more fires refused by the fence');
      const { rows: [after] } = await env.db.query<{ n: number }>('SELECT count(*)::int AS n FROM hg_runs');
      assert.equal(after?.n, before?.n, 'a fire was written past a refusing fence');
    } finally {
      await dispatcher.stop();
      await env.close();
    }
  });
});
