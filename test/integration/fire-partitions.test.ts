import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { systemClock } from '../../core/clock/index.ts';
import { FIRE_PARTITIONS, type FirePartitions, holdFirePartitions, partitionLeaseName, partitionOf } from '../../core/dispatch/fire-partitions.ts';
import type { Db } from '../../core/store/db.ts';
import { LeaseLostError } from '../../core/store/leases.ts';
import { migrate } from '../../core/store/migrate.ts';
import { acquirePartitions, fencePartitions, PartitionsLostError, releasePartitions, renewPartitions } from '../../core/store/partition-leases.ts';
import { openPgDb } from '../../core/store/pg-db.ts';
import { startFaultProxy, viaProxy } from '../support/fault-proxy.ts';
import { silentLogger } from '../support/core.ts';
import { createTestDatabase, skipUnless } from '../support/services.ts';
import { holdTransaction } from '../support/held-transaction.ts';
import { waitFor } from '../support/processes.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');

interface Member {
  name: string;
  db: Db;
  partitions: FirePartitions;
  /** what its listener was told it holds */
  told: Set<number>;
  /** partitions told gained while another member was told it held them */
  overlaps: string[];
  /** cut off from the database: it is told of its loss only once its stuck round trip times out; its fence refuses meanwhile */
  cutOff?: boolean;
}

describe('partitioned leadership: fire partitions as leases (issue 16)', { skip: await skipUnless('postgres') }, () => {
  let testDb: { url: string; drop: () => Promise<void> };
  let db: Db;
  const members: Member[] = [];
  before(async () => {
    testDb = await createTestDatabase();
    db = await openPgDb({ url: testDb.url, maxConnections: 4, queryTimeoutMs: 2000 });
    await migrate(db);
  });
  after(async () => {
    for (const m of members) await m.partitions.stop().catch(() => {});
    for (const m of members) await m.db.close().catch(() => {});
    await db.close();
    await testDb.drop();
  });

  async function join(name: string, leaseMs: number, url = testDb.url): Promise<Member> {
    const own = await openPgDb({ url, maxConnections: 3, queryTimeoutMs: 1500 });
    const member: Member = { name, db: own, told: new Set(), overlaps: [], partitions: undefined as unknown as FirePartitions };
    member.partitions = holdFirePartitions(
      own,
      silentLogger,
      {
        gained: (ps) => {
          for (const p of ps) {
            const other = members.find((m) => m !== member && !m.cutOff && m.told.has(p));
            if (other) member.overlaps.push(`${name} was told it holds ${p} while ${other.name} still held it`);
            member.told.add(p);
          }
        },
        lost: (ps) => ps.forEach((p) => member.told.delete(p)),
      },
      { clock: systemClock, leaseMs, renewMs: 100, holder: name },
    );
    members.push(member);
    member.partitions.start();
    return member;
  }

  const balanced = (live: Member[]) => {
    const share = Math.ceil(FIRE_PARTITIONS / live.length);
    const all = new Set(live.flatMap((m) => [...m.told]));
    return all.size === FIRE_PARTITIONS && live.every((m) => m.told.size <= share) && live.reduce((n, m) => n + m.told.size, 0) === FIRE_PARTITIONS;
  };

  it('an old holder can neither renew nor pass the fence once another took the partition', async () => {
    const name = partitionLeaseName(7);
    const [a] = await acquirePartitions(db, 'a', [name], 1, T0, 1000);
    assert.ok(a, 'a took the free partition');
    assert.deepEqual(await acquirePartitions(db, 'b', [name], 1, T0 + 999, 1000), [], 'taken before it expired');
    const [b] = await acquirePartitions(db, 'b', [name], 1, T0 + 1000, 1000);
    assert.equal(b?.epoch, a.epoch + 1);
    assert.equal((await renewPartitions(db, 'a', [a], T0 + 1, 1000)).size, 0, 'the old holder renewed');
    assert.equal((await db.transaction((tx) => fencePartitions(tx, 'a', [a], 1000))).size, 0, 'the old holder passed the fence');
    assert.deepEqual(await db.transaction((tx) => fencePartitions(tx, 'b', [b as { name: string; epoch: number }], 1000)), new Set([name]));
    assert.equal(b?.handedOver, false, 'an expired lease counted as handed over');
  });

  it('the holder renews while a fenced write of its own is open, and a takeover still cannot slip in', async () => {
    const name = partitionLeaseName(11);
    const [a] = await acquirePartitions(db, 'a', [name], 1, T0, 1000);
    assert.ok(a, 'a took the free partition');
    const open = await holdTransaction(db, async (tx) => assert.deepEqual(await fencePartitions(tx, 'a', [a], 10_000), new Set([name])));
    try {
      const renewal = renewPartitions(db, 'a', [a], T0 + 500, 1000);
      const verdict = await Promise.race([renewal, new Promise<'held back'>((resolve) => setTimeout(() => resolve('held back'), 1500).unref())]);
      assert.deepEqual(verdict, new Set([name]), 'the renewal waited for the holder\'s own fenced write');
      assert.deepEqual(await acquirePartitions(db, 'b', [name], 1, T0 + 10_000, 1000), [], 'taken while a fenced write was in flight');
    } finally {
      await open.release();
    }
    const [b] = await acquirePartitions(db, 'b', [name], 1, T0 + 10_000, 1000);
    assert.equal(b?.epoch, a.epoch + 1, 'taken once the write ended');
  });

  it('a partition given back is taken as handed over, with its last renewal: the seconds of a hand-over are late fires, not downtime', async () => {
    const name = partitionLeaseName(9);
    const [a] = await acquirePartitions(db, 'a', [name], 1, T0, 1000);
    assert.equal(a?.handedOver, false, 'a never-held partition counted as handed over');
    await renewPartitions(db, 'a', [a as { name: string; epoch: number }], T0 + 500, 1000);
    await releasePartitions(db, 'a', [a as { name: string; epoch: number }]);
    const [b] = await acquirePartitions(db, 'b', [name], 1, T0 + 800, 1000);
    assert.equal(b?.handedOver, true);
    assert.equal(b?.previousRenewedMs, T0 + 500);
  });

  it('three dispatchers share the 64 partitions, one holder each; a stopped one\'s move at once, a vanished one\'s on expiry', async (t) => {
    const a = await join('a', 1500);
    await waitFor(async () => a.told.size === FIRE_PARTITIONS, 5000, 20, 'one dispatcher to hold every partition');
    const b = await join('b', 1500);
    const real = new URL(testDb.url);
    const proxy = await startFaultProxy({ host: real.hostname, port: Number(real.port || 5432) });
    try {
      const c = await join('c', 1500, viaProxy(testDb.url, proxy));
      await waitFor(async () => balanced([a, b, c]), 10_000, 20, 'three dispatchers to share the partitions');
      assert.deepEqual([a, b, c].map((m) => m.told.size).sort(), [20, 22, 22]);
      // every task is fired by exactly one of them
      const owners = Array.from({ length: 300 }, (_, i) => [a, b, c].filter((m) => m.partitions.ownsTask(`task-${i}`)).length);
      assert.ok(owners.every((n) => n === 1), 'a task owned by no dispatcher or by two');

      // c's host vanishes: its renewals hang, it stops firing on its own; a and b take its share after the lease
      proxy.stall();
      c.cutOff = true;
      const vanished = Date.now();
      const cHeld = [...c.told];
      await waitFor(async () => balanced([a, b]), 10_000, 20, 'the vanished dispatcher\'s partitions to move');
      const movedMs = Date.now() - vanished;
      t.diagnostic(`a vanished dispatcher's ${cHeld.length} partitions moved in ${movedMs} ms (lease 1500 ms)`);
      assert.ok(movedMs < 10_000);
      const taskOfC = Array.from({ length: 1000 }, (_, i) => `task-${i}`).find((id) => cHeld.includes(partitionOf(id))) as string;
      await assert.rejects(c.db.transaction((tx) => c.partitions.fence(tx, [taskOfC])), 'the vanished dispatcher passed its fence after its deadline');
      await waitFor(async () => c.told.size === 0, 5000, 20, 'the vanished dispatcher to give its partitions up');
      // back from the dead, its old terms are refused by the fence
      proxy.restore();
      await assert.rejects(c.db.transaction((tx) => c.partitions.fence(tx, [taskOfC])), LeaseLostError);

      // a write of a live holder that names a partition another took: refused, and that partition given up at
      // once (not at the next renewal), so the rest of the write can go again without it
      // a's renewal (every 100 ms) may see the theft before the fence does, and give the partition up on its
      // own; that is no refusal by the fence, so steal another one until the fence is the first to see it
      const taskIn = (p: number) => Array.from({ length: 5000 }, (_, i) => `task-${i}`).find((id) => partitionOf(id) === p) as string;
      const stolenOnes: number[] = [];
      let refused: unknown;
      let stolen = -1;
      for (let attempt = 0; attempt < 10 && !(refused instanceof PartitionsLostError); attempt++) {
        const [victim, kept] = a.partitions.held() as [number, number];
        stolen = victim;
        stolenOnes.push(stolen);
        await db.query(`UPDATE hg_leases SET epoch = epoch + 1, holder = 'thief' WHERE name = $1`, [partitionLeaseName(stolen)]);
        refused = await a.db.transaction((tx) => a.partitions.fence(tx, [taskIn(stolen), taskIn(kept)])).then(() => undefined, (error: Error) => error);
        if (!(refused instanceof PartitionsLostError)) assert.ok(refused instanceof LeaseLostError, `refused with ${String(refused)}`);
      }
      t.diagnostic(`the fence saw the theft first after ${stolenOnes.length} partition(s) stolen`);
      assert.ok(refused instanceof PartitionsLostError, `refused with ${String(refused)}`);
      assert.deepEqual(refused.partitions, [stolen]);
      assert.ok(!a.partitions.held().includes(stolen), 'the partition seen taken by the fence is still held');
      await a.db.transaction((tx) => a.partitions.fence(tx, [taskIn(a.partitions.held()[0] as number)]));
      await db.query(`UPDATE hg_leases SET expires_at = 'epoch' WHERE name = ANY($1::text[]) AND holder = 'thief'`, [stolenOnes.map(partitionLeaseName)]);
      await c.partitions.stop();
      members.splice(members.indexOf(c), 1);
      await c.db.close();

      // a clean stop hands back at once
      const stopped = Date.now();
      await b.partitions.stop();
      members.splice(members.indexOf(b), 1);
      await waitFor(async () => a.told.size === FIRE_PARTITIONS, 5000, 20, 'the stopped dispatcher\'s partitions to move');
      t.diagnostic(`a stopped dispatcher's partitions moved in ${Date.now() - stopped} ms`);
      assert.deepEqual([a, b, c].flatMap((m) => m.overlaps), [], 'a partition was told held by two dispatchers at once');
    } finally {
      proxy.restore();
      await proxy.close();
    }
  });

  it('a killed dispatcher\'s partitions move before their lease expires (its liveness hint went with its session)', async (t) => {
    const survivor = members.find((m) => m.name === 'a') as Member;
    const doomed = await join('doomed', 20_000);
    await waitFor(async () => balanced([survivor, doomed]), 10_000, 20, 'two dispatchers to share the partitions');
    // kill -9: the process is gone, its sockets close; nothing is released
    const killed = Date.now();
    members.splice(members.indexOf(doomed), 1);
    await doomed.db.close();
    void doomed.partitions.stop(); // its timers: the process is gone
    await waitFor(async () => survivor.told.size === FIRE_PARTITIONS, 10_000, 20, 'the killed dispatcher\'s partitions to move');
    const movedMs = Date.now() - killed;
    t.diagnostic(`a killed dispatcher's partitions moved in ${movedMs} ms (lease 20,000 ms)`);
    assert.ok(movedMs < 5000, `moved after ${movedMs} ms: the lease's expiry, not the hint`);
  });
});
