/**
 * The queue contract: every adapter of core/queue/port.ts passes these cases against a real service.
 * Adapter-specific wiring lives in the factory; the suite assumes no particular broker.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { CancelTarget, Claim, Delivery, QueueConsumer, QueueProducer, RunMessage, StatusEvent } from '../../core/queue/port.ts';

/** Pools the suite publishes to; a factory's cleanup may rely on this list to delete per-pool objects. */
export const CONTRACT_POOLS = ['alpha', 'beta'] as const;

export interface QueueContractHarness {
  producer: QueueProducer;
  /** a new consumer (worker side) with its own connections */
  consumer: (workerId: string) => Promise<QueueConsumer>;
  /**
   * Removes every broker object of this harness (streams, keys, queues, exchanges). The suite closes the
   * producer and the consumers it created before calling it.
   */
  cleanup(): Promise<void>;
  /** puts raw bytes where run messages of `pool` go, bypassing publish(); the poison case is skipped without it */
  injectRaw?(pool: string, raw: string): Promise<void>;
  /** dead-lettered run messages so far (cumulative), when the backend can list them */
  deadLetters?(): Promise<{ reason: string; payload: string }[]>;
  /**
   * Where the backend differs from a broker by design (postgres: the queue is the runs table). Cases that
   * cannot apply are skipped with the reason; what replaces them is tested in test/integration/dispatch.test.ts.
   */
  semantics?: {
    /** publishing the same attempt twice leaves one entry (a unique key), so it is delivered once */
    idempotentPublish?: true;
    /** receive() takes the run atomically; a worker that dies after it is recovered by the reaper, not by redelivery */
    claimOnReceive?: true;
    /** status events are written by publishStatus() itself; consumeStatus() has nothing to deliver */
    directStatus?: true;
  };
}

export interface QueueContractOptions {
  /** a reason to skip the whole suite (e.g. the service is not reachable), or false */
  skip?: string | false;
}

const [POOL, OTHER_POOL] = CONTRACT_POOLS;

let counter = 0;
function message(overrides: Partial<RunMessage> = {}): RunMessage {
  counter += 1;
  return {
    runId: `run-${randomBytes(4).toString('hex')}-${counter}`,
    attempt: 1,
    taskId: 'task-1',
    taskName: 'nightly-report',
    pool: POOL,
    priority: 0,
    type: 'shell',
    spec: { shell: { command: 'echo hi' } },
    timeoutSeconds: 60,
    shard: 0,
    shardTotal: 1,
    scheduledTime: '2030-01-01T00:00:00.000Z',
    ...overrides,
  };
}

const target = (runId: string, attempt = 1): CancelTarget => ({ runId, taskId: 'task-1', attempt });

/**
 * What the core would do: grant each (runId, attempt) once, and never a cancelled one (the core cancels
 * in Postgres before it publishes the cancel, so the suite marks it cancelled here the same way).
 */
function memoryDecider(): { decide: (claims: Claim[]) => Promise<boolean[]>; cancel: (targets: CancelTarget[]) => void } {
  const taken = new Set<string>();
  return {
    decide: async (claims) =>
      claims.map((c) => {
        const key = `${c.runId}:${c.attempt}`;
        if (taken.has(key)) return false;
        taken.add(key);
        return true;
      }),
    cancel: (targets) => {
      for (const t of targets) taken.add(`${t.runId}:${t.attempt}`);
    },
  };
}

async function eventually<T>(probe: () => Promise<T>, ok: (value: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await probe();
  while (!ok(last)) {
    if (Date.now() > deadline) assert.fail(`${what}: still ${JSON.stringify(last)} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
    last = await probe();
  }
  return last;
}

/** Receives from `pool` until `count` deliveries arrived or the time is up. */
async function receiveUntil(consumer: QueueConsumer, pool: string, count: number, timeoutMs: number, max = 50): Promise<Delivery[]> {
  const out: Delivery[] = [];
  const deadline = Date.now() + timeoutMs;
  while (out.length < count && Date.now() < deadline) {
    const batch = await consumer.receive(pool, { max: Math.min(max, count - out.length), waitMs: Math.max(1, Math.min(1000, deadline - Date.now())) });
    assert.ok(batch.length <= max, `receive returned ${batch.length} > max ${max}`);
    out.push(...batch);
  }
  return out;
}

interface Context {
  h: QueueContractHarness;
  consumer(workerId: string): Promise<QueueConsumer>;
  /** cancels as the core does: first in its own records, then through the queue */
  cancel(targets: CancelTarget[]): Promise<void>;
}

async function withHarness(factory: () => Promise<QueueContractHarness>, body: (ctx: Context) => Promise<void>): Promise<void> {
  const h = await factory();
  const consumers: QueueConsumer[] = [];
  const decider = memoryDecider();
  const claims = await h.producer.serveClaims(decider.decide);
  try {
    await body({
      h,
      cancel: async (targets) => {
        decider.cancel(targets);
        await h.producer.publishCancel(targets);
      },
      consumer: async (workerId) => {
        const c = await h.consumer(workerId);
        consumers.push(c);
        return c;
      },
    });
  } finally {
    await claims.close().catch(() => {});
    await Promise.all(consumers.map((c) => c.close().catch(() => {})));
    await h.producer.close().catch(() => {});
    await h.cleanup();
  }
}

export function runQueueContract(name: string, factory: () => Promise<QueueContractHarness>, options: QueueContractOptions = {}): void {
  describe(`queue contract: ${name}`, { skip: options.skip ?? false, timeout: 120_000 }, () => {
    it('delivers every published message, higher priority first when both are waiting', async () => {
      await withHarness(factory, async ({ h, consumer }) => {
        const low = message({ priority: -5 });
        const normal = message({ priority: 0 });
        const high = message({ priority: 50 });
        const higherButLater = message({ priority: 10 });
        await h.producer.publish([low, normal, high, higherButLater]);
        const worker = await consumer('w1');
        await worker.ping();
        // max 1 while all four wait: it must be the highest one, not just the first published.
        const got = await receiveUntil(worker, POOL, 1, 5000, 1);
        assert.deepEqual(got.map((d) => d.message.runId), [high.runId], 'max 1 takes the highest priority');
        got.push(...(await receiveUntil(worker, POOL, 3, 5000, 10)));
        assert.deepEqual(
          got.map((d) => d.message.runId),
          [high.runId, higherButLater.runId, normal.runId, low.runId],
        );
        assert.deepEqual(got[0]?.message, high, 'the message arrives intact');
        for (const d of got) assert.equal(await d.claim('w1'), true);
        assert.deepEqual(await worker.receive(POOL, { max: 10, waitMs: 200 }), [], 'nothing left after claims');
      });
    });

    it('receive blocks up to waitMs when empty, and wakes up for a message published meanwhile', async () => {
      await withHarness(factory, async ({ h, consumer }) => {
        const worker = await consumer('w1');
        let started = Date.now();
        assert.deepEqual(await worker.receive(POOL, { max: 5, waitMs: 400 }), []);
        const waited = Date.now() - started;
        assert.ok(waited >= 350, `returned after ${waited} ms, expected to block ~400 ms`);
        assert.ok(waited < 3000, `blocked ${waited} ms for a 400 ms wait`);

        const m = message();
        started = Date.now();
        const pending = worker.receive(POOL, { max: 5, waitMs: 8000 });
        await new Promise((r) => setTimeout(r, 150));
        await h.producer.publish([m]);
        const got = await pending;
        const latency = Date.now() - started;
        assert.deepEqual(got.map((d) => d.message.runId), [m.runId]);
        assert.ok(latency < 4000, `a blocked receive took ${latency} ms to see a new message`);
        assert.equal(await got[0]?.claim('w1'), true);
      });
    });

    it('receive honours max and an AbortSignal', async () => {
      await withHarness(factory, async ({ h, consumer }) => {
        const worker = await consumer('w1');
        const messages = Array.from({ length: 5 }, () => message());
        await h.producer.publish(messages);
        const first = await worker.receive(POOL, { max: 2, waitMs: 3000 });
        assert.ok(first.length >= 1 && first.length <= 2, `max 2 returned ${first.length}`);
        const rest = await receiveUntil(worker, POOL, 5 - first.length, 5000, 2);
        const all = [...first, ...rest];
        assert.deepEqual(new Set(all.map((d) => d.message.runId)), new Set(messages.map((m) => m.runId)));
        for (const d of all) assert.equal(await d.claim('w1'), true);

        const aborted = new AbortController();
        aborted.abort();
        let started = Date.now();
        assert.deepEqual(await worker.receive(OTHER_POOL, { max: 5, waitMs: 10_000, signal: aborted.signal }), []);
        assert.ok(Date.now() - started < 1000, 'an already aborted signal returns at once');

        const controller = new AbortController();
        started = Date.now();
        setTimeout(() => controller.abort(), 200);
        assert.deepEqual(await worker.receive(OTHER_POOL, { max: 5, waitMs: 10_000, signal: controller.signal }), []);
        const waited = Date.now() - started;
        assert.ok(waited < 3000, `abort after 200 ms, receive returned after ${waited} ms (waitMs 10000)`);

        // The consumer is still usable after an aborted receive.
        const later = message({ pool: OTHER_POOL });
        await h.producer.publish([later]);
        const got = await receiveUntil(worker, OTHER_POOL, 1, 5000);
        assert.deepEqual(got.map((d) => d.message.runId), [later.runId]);
        assert.equal(await got[0]?.claim('w1'), true);
      });
    });

    it('grants each attempt once across two consumers racing for a message published twice', async () => {
      await withHarness(factory, async ({ h, consumer }) => {
        const a = await consumer('wa');
        const b = await consumer('wb');
        const m = message();
        const retry = { ...m, attempt: 2 };
        await h.producer.publish([m, m, retry]);
        const expected = h.semantics?.idempotentPublish ? 2 : 3;
        const got: Array<{ d: Delivery; worker: string }> = [];
        const deadline = Date.now() + 8000;
        await Promise.all(
          [
            [a, 'wa'],
            [b, 'wb'],
          ].map(async ([c, worker]) => {
            while (got.length < expected && Date.now() < deadline) {
              const batch = await (c as QueueConsumer).receive(POOL, { max: 1, waitMs: 300 });
              for (const d of batch) got.push({ d, worker: worker as string });
            }
          }),
        );
        const idempotent = h.semantics?.idempotentPublish === true;
        assert.equal(got.length, expected, idempotent ? 'attempt 1 once (one row) and attempt 2' : 'three deliveries: two copies of attempt 1 and attempt 2');
        const results = await Promise.all(got.map(({ d, worker }) => d.claim(worker).then((won) => ({ won, worker, attempt: d.message.attempt }))));
        // one worker wins attempt 1; a copy reaching that same worker may be granted to it again (a re-sent
        // claim is answered the same way, and a worker never starts an attempt twice), never another worker
        const winners = new Set(results.filter((r) => r.attempt === 1 && r.won).map((r) => r.worker));
        assert.equal(winners.size, 1, 'attempt 1 granted to exactly one worker');
        if (!idempotent) assert.equal(results.filter((r) => r.attempt === 1).length, 2);
        assert.equal(results.filter((r) => r.attempt === 2 && r.won).length, 1, 'attempt 2 is a different claim');
        // Refused duplicates are settled too: nothing comes back.
        const again = await Promise.all([a.receive(POOL, { max: 5, waitMs: 800 }), b.receive(POOL, { max: 5, waitMs: 800 })]);
        assert.deepEqual(again.flat(), []);
      });
    });

    it('redelivers a message whose consumer died before claiming it', async (t) => {
      await withHarness(factory, async ({ h, consumer }) => {
        if (h.semantics?.claimOnReceive) {
          t.skip('receive() claims atomically here; a dead worker\'s attempt is failed and retried by the reaper instead');
          return;
        }
        const doomed = await consumer('doomed');
        const m = message();
        await h.producer.publish([m]);
        const first = await receiveUntil(doomed, POOL, 1, 5000);
        assert.deepEqual(first.map((d) => d.message.runId), [m.runId]);
        await doomed.close();

        const survivor = await consumer('survivor');
        const again = await receiveUntil(survivor, POOL, 1, 15_000);
        assert.deepEqual(again.map((d) => d.message.runId), [m.runId], 'the unclaimed message comes back');
        assert.equal(await again[0]?.claim('survivor'), true);
      });
    });

    it('status events reach consumeStatus in order per run, and a failing handler sees them again', async (t) => {
      await withHarness(factory, async ({ h, consumer }) => {
        if (h.semantics?.directStatus) {
          t.skip('publishStatus() writes to the database itself; a failure rejects it and the worker\'s outbox retries');
          return;
        }
        const worker = await consumer('w1');
        const at = '2030-01-01T00:00:00.000Z';
        const r1: StatusEvent[] = [
          { kind: 'started', runId: 'r1', attempt: 1, workerId: 'w1', at },
          ...Array.from({ length: 20 }, (_, seq): StatusEvent => ({ kind: 'log', runId: 'r1', attempt: 1, seq, stream: 'stdout', chunk: `line ${seq}\n` })),
          { kind: 'finished', runId: 'r1', attempt: 1, workerId: 'w1', at, status: 'succeeded', exitCode: 0, output: 'ok' },
        ];
        const r2: StatusEvent[] = [
          { kind: 'started', runId: 'r2', attempt: 3, workerId: 'w1', at },
          { kind: 'finished', runId: 'r2', attempt: 3, workerId: 'w1', at, status: 'failed', exitCode: 2, error: 'boom' },
        ];
        const heartbeat: StatusEvent = {
          kind: 'heartbeat', workerId: 'w1', pool: POOL, taskTypes: ['shell'], concurrency: 4, activeRuns: 2,
          status: 'ALIVE', hostname: 'host', version: '0.1.0', startedAt: at, at,
        };
        // Interleaved across three publishStatus calls, some before anyone consumes.
        await worker.publishStatus([r1[0]!, r2[0]!, heartbeat, ...r1.slice(1, 8)]);

        const accepted: StatusEvent[] = [];
        let rejected: StatusEvent[] | undefined;
        let calls = 0;
        const sub = await h.producer.consumeStatus(async (events) => {
          calls += 1;
          if (!rejected) {
            rejected = events.slice();
            throw new Error('database unavailable');
          }
          accepted.push(...events);
        });
        try {
          await worker.publishStatus(r1.slice(8, 15));
          await worker.publishStatus([...r1.slice(15), r2[1]!]);
          const total = r1.length + r2.length + 1;
          await eventually(async () => accepted.length, (n) => n >= total, 10_000, 'events accepted');
          await new Promise((r) => setTimeout(r, 300)); // anything extra would show up here
          assert.ok(calls >= 2, 'the handler was called again after throwing');
          assert.ok(rejected && rejected.length > 0);
          assert.deepEqual(accepted.slice(0, rejected.length), rejected, 'the failed batch is handed over again, first');
          const ofRun = (runId: string): StatusEvent[] => accepted.filter((e) => 'runId' in e && e.runId === runId);
          assert.deepEqual(ofRun('r1'), r1, 'run r1: all events, once, in order');
          assert.deepEqual(ofRun('r2'), r2, 'run r2: all events, once, in order');
          assert.deepEqual(accepted.filter((e) => e.kind === 'heartbeat'), [heartbeat]);
          assert.equal(accepted.length, total, 'no duplicates once acked');
        } finally {
          await sub.close();
        }
      });
    });

    it('publishCancel reaches onCancel of every consumer', async () => {
      await withHarness(factory, async ({ h, consumer }) => {
        const a = await consumer('wa');
        const b = await consumer('wb');
        const seenA: string[][] = [];
        const seenB: string[][] = [];
        const subA = await a.onCancel((ids) => seenA.push(ids));
        const subB = await b.onCancel((ids) => seenB.push(ids));
        await h.producer.publishCancel([target('r1'), target('r2')]);
        await eventually(async () => [seenA.length, seenB.length], ([x, y]) => x! >= 1 && y! >= 1, 5000, 'cancels seen');
        assert.deepEqual(seenA, [['r1/1', 'r2/1']]);
        assert.deepEqual(seenB, [['r1/1', 'r2/1']]);

        await subB.close();
        await h.producer.publishCancel([target('r3')]);
        await eventually(async () => seenA.length, (n) => n >= 2, 5000, 'second cancel seen by a');
        await new Promise((r) => setTimeout(r, 200));
        assert.deepEqual(seenA[1], ['r3/1']);
        assert.equal(seenB.length, 1, 'a closed subscription hears nothing more');
        await subA.close();
      });
    });

    it('refuses the claim of a run cancelled while it waited, and still delivers the others', async (t) => {
      await withHarness(factory, async ({ h, consumer, cancel }) => {
        if (h.semantics?.claimOnReceive) {
          t.skip('the core cancels a waiting run in the runs table itself, so receive() never returns it');
          return;
        }
        const doomed = message();
        const kept = message();
        await h.producer.publish([doomed, kept]);
        await cancel([{ runId: doomed.runId, taskId: doomed.taskId, attempt: doomed.attempt }]);
        const worker = await consumer('w1');
        const got = await receiveUntil(worker, POOL, 2, 5000);
        const claims = new Map(await Promise.all(got.map(async (d) => [d.message.runId, await d.claim('w1')] as const)));
        assert.equal(claims.get(doomed.runId), false, 'the cancelled run is refused');
        assert.equal(claims.get(kept.runId), true, 'the other one runs');
      });
    });

    it('backlog counts waiting runs and drops once they are received and claimed', async () => {
      await withHarness(factory, async ({ h, consumer }) => {
        assert.equal(await h.producer.backlog(POOL), 0, 'empty pool');
        const messages = [message({ priority: 5 }), message(), message({ priority: -5 })];
        await h.producer.publish(messages);
        await eventually(() => h.producer.backlog(POOL), (n) => n === 3, 5000, 'backlog after publish');
        assert.equal(await h.producer.backlog(OTHER_POOL), 0, 'other pools are not counted');
        const worker = await consumer('w1');
        const got = await receiveUntil(worker, POOL, 3, 5000, 3);
        assert.equal(got.length, 3);
        for (const d of got) assert.equal(await d.claim('w1'), true);
        await eventually(() => h.producer.backlog(POOL), (n) => n === 0, 5000, 'backlog after claims');
      });
    });

    it('dead-letters a poison message without blocking the next valid one', async (t) => {
      await withHarness(factory, async ({ h, consumer }) => {
        if (!h.injectRaw) {
          t.skip('this backend cannot inject raw messages (its factory has no injectRaw)');
          return;
        }
        const worker = await consumer('w1');
        await h.injectRaw(POOL, 'this is not json');
        await h.injectRaw(POOL, JSON.stringify({ runId: 'r-incomplete', attempt: 1 }));
        const valid = message();
        await h.producer.publish([valid]);
        const got = await receiveUntil(worker, POOL, 1, 5000);
        assert.deepEqual(got.map((d) => d.message.runId), [valid.runId]);
        assert.equal(await got[0]?.claim('w1'), true);
        assert.deepEqual(await worker.receive(POOL, { max: 10, waitMs: 500 }), [], 'poison never reaches the worker');
        if (h.deadLetters) {
          const dead = await eventually(() => h.deadLetters!(), (d) => d.length >= 2, 5000, 'dead letters');
          assert.equal(dead.length, 2);
          assert.deepEqual(new Set(dead.map((d) => d.payload)), new Set(['this is not json', JSON.stringify({ runId: 'r-incomplete', attempt: 1 })]));
          for (const d of dead) assert.ok(d.reason.length > 0, 'a dead letter carries a reason');
        }
        await eventually(() => h.producer.backlog(POOL), (n) => n === 0, 5000, 'nothing left waiting');
      });
    });

    it('2,000 messages published in one call all arrive exactly once', async () => {
      await withHarness(factory, async ({ h, consumer }) => {
        const total = 2000;
        const messages = Array.from({ length: total }, (_, i) => message({ priority: (i % 3) - 1 }));
        const started = Date.now();
        await h.producer.publish(messages);
        const workers = await Promise.all([consumer('w1'), consumer('w2')]);
        const won = new Map<string, number>();
        let deliveries = 0;
        const deadline = Date.now() + 60_000;
        await Promise.all(
          workers.map(async (w, i) => {
            while (won.size < total && Date.now() < deadline) {
              const batch = await w.receive(POOL, { max: 100, waitMs: 300 });
              deliveries += batch.length;
              const results = await Promise.all(batch.map((d) => d.claim(`w${i + 1}`).then((ok) => ({ ok, d }))));
              for (const { ok, d } of results) if (ok) won.set(d.message.runId, (won.get(d.message.runId) ?? 0) + 1);
            }
          }),
        );
        const elapsed = Date.now() - started;
        assert.equal(won.size, total, `all ${total} runs claimed (got ${won.size})`);
        assert.ok([...won.values()].every((n) => n === 1), 'no run granted twice');
        assert.equal(deliveries, total, 'no message delivered twice');
        assert.ok(elapsed < 60_000, `took ${elapsed} ms`);
        assert.deepEqual(await workers[0]!.receive(POOL, { max: 10, waitMs: 300 }), []);
        assert.equal(await h.producer.backlog(POOL), 0);
      });
    });
  });
}
