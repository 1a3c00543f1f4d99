import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import type { StatusEvent } from '../../core/queue/port.ts';
import { StatusOutbox } from '../../worker/status-outbox.ts';

const logger = pino({ level: 'silent' });
const event = (runId: string): StatusEvent => ({ kind: 'log', runId, attempt: 1, seq: 0, stream: 'stdout', chunk: '' });

describe('StatusOutbox', () => {
  it('delivers an event pushed in the same microtask burst in which the previous flush ends', async () => {
    const sent: string[] = [];
    let armed = true;
    const outbox = new StatusOutbox((events) => {
      sent.push(...events.map((e) => (e as { runId: string }).runId));
      const delivered = Promise.resolve();
      // another run finishing as this send completes: its push lands between the flush loop's last
      // check and whatever the flush does after it
      if (armed) {
        armed = false;
        void delivered.then(() => {}).then(() => outbox.push(event('2')));
      }
      return delivered;
    }, logger);
    await outbox.push(event('1'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(sent, ['1', '2']);
    assert.equal(outbox.size, 0);
  });

  it('keeps order and retries a failed batch until it goes through', async () => {
    const sent: string[] = [];
    let failures = 1;
    const outbox = new StatusOutbox(async (events) => {
      if (failures-- > 0) throw new Error('broker down');
      sent.push(...events.map((e) => (e as { runId: string }).runId));
    }, logger);
    await Promise.all([outbox.push(event('a')), outbox.push(event('b'))]);
    assert.deepEqual(sent, ['a', 'b']);
  });
});

describe('StatusOutbox heartbeats', () => {
  const beat = (n: number): Extract<StatusEvent, { kind: 'heartbeat' }> => ({
    kind: 'heartbeat', workerId: 'w', pool: 'p', taskTypes: [], concurrency: 1, activeRuns: n, status: 'ALIVE',
    hostname: 'h', version: 'v', startedAt: new Date(0).toISOString(), at: new Date(0).toISOString(),
  });

  it('sends the goodbye (inOrder) behind the events pushed before it, built when its batch leaves', async () => {
    const batches: string[][] = [];
    let built = 0;
    const outbox = new StatusOutbox(async (events) => {
      batches.push(events.map((e) => (e.kind === 'heartbeat' ? `hb${e.activeRuns}` : (e as { runId: string }).runId)));
    }, logger);
    void outbox.push(event('1'));
    const delivered = outbox.pushHeartbeat(() => beat(++built), { inOrder: true });
    assert.equal(built, 0, 'built before its batch was sent');
    await delivered;
    assert.deepEqual(batches.flat(), ['1', 'hb1']);
  });

  it('sends liveness heartbeats while an outcome\'s delivery hangs (a row lock, a slow broker)', async () => {
    const sent: string[] = [];
    let release: () => void = () => {};
    const outbox = new StatusOutbox(async (events) => {
      if (events.some((e) => e.kind === 'log')) await new Promise<void>((resolve) => (release = resolve));
      sent.push(...events.map((e) => (e.kind === 'heartbeat' ? `hb${e.activeRuns}` : (e as { runId: string }).runId)));
    }, logger);
    const outcome = outbox.push(event('stuck'));
    await new Promise((resolve) => setImmediate(resolve));
    // a heartbeat held behind the outcome would never resolve here: fail in 2 s rather than hang
    const inTime = (delivery: Promise<void>) => Promise.race([delivery, new Promise((_, reject) => setTimeout(() => reject(new Error('the heartbeat waited for the outcome')), 2000).unref())]);
    await inTime(outbox.pushHeartbeat(() => beat(1)));
    await inTime(outbox.pushHeartbeat(() => beat(2)));
    assert.deepEqual(sent, ['hb1', 'hb2']);
    release();
    await outcome;
    assert.deepEqual(sent, ['hb1', 'hb2', 'stuck']);
  });

  it('replaces a heartbeat still waiting, but never one already on its way', async () => {
    const sent: string[] = [];
    let release: () => void = () => {};
    let calls = 0;
    const outbox = new StatusOutbox(async (events) => {
      if (calls++ === 0) await new Promise<void>((resolve) => (release = resolve));
      sent.push(...events.map((e) => (e.kind === 'heartbeat' ? `hb${e.activeRuns}` : (e as { runId: string }).runId)));
    }, logger);
    const first = outbox.pushHeartbeat(() => beat(1)); // in flight at once: the lane does not wait for a turn
    void outbox.pushHeartbeat(() => beat(2));
    const last = outbox.pushHeartbeat(() => beat(3)); // hb2 was still waiting: replaced
    release();
    await first;
    await last;
    assert.deepEqual(sent, ['hb1', 'hb3']);
  });

  it('a failed heartbeat is sent again unless a newer one came meanwhile', async () => {
    const sent: string[] = [];
    let failures = 1;
    const outbox = new StatusOutbox(async (events) => {
      if (failures-- > 0) throw new Error('broker down');
      sent.push(...events.map((e) => (e.kind === 'heartbeat' ? `hb${e.activeRuns}` : '?')));
    }, logger);
    await outbox.pushHeartbeat(() => beat(1));
    assert.deepEqual(sent, ['hb1']);
    await outbox.laneIdle();
  });
});
