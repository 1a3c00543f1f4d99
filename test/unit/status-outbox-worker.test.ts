/**
 * The worker's side of what the core reads (issue 12 defects 1 and 7, §3; issue 18 items 1 and 19): the
 * real Worker loop and executors against a broker stand-in that records what it accepts, in order, and
 * can be slow to accept a batch (a broker round trip under load).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { systemClock, type Clock } from '../../core/clock/index.ts';
import type { Delivery, QueueConsumer, RunMessage, StatusEvent, Subscription } from '../../core/queue/port.ts';
import { createShellExecutor, defaultRegistry, ExecutorRegistry } from '../../worker/executors/index.ts';
import { LiveLog } from '../../worker/live-log.ts';
import { SHUTDOWN_REASON, Worker } from '../../worker/worker.ts';

const logger = pino({ level: 'silent' });
type Of<K extends StatusEvent['kind']> = Extract<StatusEvent, { kind: K }>;

/** A broker whose log is the order in which it accepted events; `slowFinished` delays batches holding an outcome. */
class RecordingBroker implements QueueConsumer {
  readonly kind = 'postgres' as const;
  readonly log: StatusEvent[] = [];
  private waiting: RunMessage[] = [];
  slowFinishedMs = 0;

  offer(message: RunMessage): void {
    this.waiting.push(message);
  }

  async receive(_pool: string, options: { max: number; waitMs: number; signal?: AbortSignal }): Promise<Delivery[]> {
    if (this.waiting.length === 0) {
      await systemClock.sleep(Math.min(options.waitMs, 20), options.signal).catch(() => {});
      return [];
    }
    return this.waiting.splice(0, options.max).map((message) => ({ message, claim: async () => true }));
  }

  async publishStatus(events: StatusEvent[]): Promise<void> {
    if (this.slowFinishedMs > 0 && events.some((e) => e.kind === 'finished')) await systemClock.sleep(this.slowFinishedMs);
    this.log.push(...events);
  }

  cancelHandler: ((entries: string[]) => void) | undefined;

  async onCancel(handler: (entries: string[]) => void): Promise<Subscription> {
    this.cancelHandler = handler;
    return { close: async () => {} };
  }

  async onDrain(): Promise<Subscription> {
    return { close: async () => {} };
  }

  async ping(): Promise<void> {}
  async close(): Promise<void> {}

  finished(runId: string): Of<'finished'> | undefined {
    return this.log.find((e): e is Of<'finished'> => e.kind === 'finished' && e.runId === runId);
  }
}

function message(runId: string, type: string, spec: RunMessage['spec'], timeoutSeconds = 30): RunMessage {
  return {
    runId, attempt: 1, taskId: 't', taskName: `task-${runId}`, pool: 'p', priority: 0, type, spec, timeoutSeconds,
    shard: 0, shardTotal: 1, scheduledTime: new Date().toISOString(),
  };
}

function worker(broker: RecordingBroker, registry: ExecutorRegistry, options: Partial<ConstructorParameters<typeof Worker>[2]> = {}): Worker {
  return new Worker(broker, registry, {
    workerId: 'w1', pool: 'p', concurrency: 4, heartbeatIntervalMs: 10, drainTimeoutMs: 300, outputLimitBytes: 256 * 1024,
    version: 't', pollWaitMs: 20, ...options,
  }, logger);
}

async function until<T>(what: string, probe: () => T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await systemClock.sleep(5);
  }
}

describe('worker status events', () => {
  it('heartbeats do not wait behind an outcome on its way, and until the outcome is in they still hold the attempt', async () => {
    const broker = new RecordingBroker();
    const w = worker(broker, defaultRegistry());
    await w.start();
    broker.slowFinishedMs = 150; // heartbeats (every 10 ms) keep coming while the outcome is on its way
    broker.offer(message('101', 'noop', { params: { sleepMs: 50 } }));
    await until('the outcome', () => broker.finished('101'));
    const at = broker.log.findIndex((e) => e.kind === 'finished');
    await until('a heartbeat after the outcome', () => (broker.log.slice(at + 1).some((e) => e.kind === 'heartbeat') ? true : undefined));
    await w.stop();
    const beats = broker.log.slice(0, at).filter((e): e is Of<'heartbeat'> => e.kind === 'heartbeat');
    const first = beats.findIndex((beat) => beat.held?.includes('101/1'));
    assert.ok(first >= 0, 'no heartbeat held the attempt while it ran');
    // once held, the attempt stays held in every heartbeat the core reads before its outcome
    for (const beat of beats.slice(first)) assert.ok(beat.held?.includes('101/1'), `a heartbeat before the outcome does not hold it: ${JSON.stringify(beat.held)}`);
    // heartbeats kept coming while the outcome was on its way (150 ms, one every 10 ms), on their own lane: the
    // run had ended (no active run) and its outcome was not in yet, and they still held it
    assert.ok(beats.some((beat) => beat.activeRuns === 0 && beat.held?.includes('101/1')), 'no heartbeat went ahead of the slow outcome');
    assert.ok(broker.log.slice(at + 1).some((e) => e.kind === 'heartbeat' && e.status === 'ALIVE'));
  });

  it('graceful stop delivers outcomes before the DOWN heartbeat', async () => {
    const broker = new RecordingBroker();
    const w = worker(broker, defaultRegistry());
    await w.start();
    broker.offer(message('201', 'noop', { params: { sleepMs: 50 } }));
    await until('the run to start', () => (w.activeRuns > 0 ? true : undefined));
    broker.slowFinishedMs = 200;
    await w.stop();
    const down = broker.log.findIndex((e) => e.kind === 'heartbeat' && e.status === 'DOWN');
    const outcome = broker.log.findIndex((e) => e.kind === 'finished' && e.runId === '201');
    assert.ok(outcome >= 0 && down > outcome, `DOWN at ${down}, the outcome at ${outcome}`);
    assert.equal(broker.log.at(-1)?.kind, 'heartbeat');
  });

  it('a run still going at the end of the drain timeout is reported failed and retryable, not cancelled', async () => {
    const broker = new RecordingBroker();
    const w = worker(broker, defaultRegistry({ shell: { killGraceMs: 100 } }), { drainTimeoutMs: 200 });
    await w.start();
    broker.offer(message('301', 'shell', { shell: { command: ['sh', '-c', 'echo started; sleep 30'] } }));
    broker.offer(message('302', 'noop', { params: { sleepMs: 30_000 } }));
    await until('both runs to start', () => (w.activeRuns === 2 ? true : undefined));
    await w.stop();
    for (const runId of ['301', '302']) {
      const outcome = broker.finished(runId);
      assert.equal(outcome?.status, 'failed', JSON.stringify(outcome));
      assert.match(outcome?.error ?? '', new RegExp(`^${SHUTDOWN_REASON}`));
      assert.notEqual(outcome?.retryable, false);
    }
    assert.match(broker.finished('301')?.output ?? '', /started/, 'what it printed is kept');
  });

  it('the worker owns the timeout: an executor that ignores time is stopped through its signal', async () => {
    const broker = new RecordingBroker();
    const w = worker(broker, defaultRegistry());
    await w.start();
    broker.offer(message('401', 'noop', { params: { sleepMs: 30_000 } }, 0.2));
    const outcome = await until('the outcome', () => broker.finished('401'));
    await w.stop();
    assert.equal(outcome.status, 'timed_out');
    assert.equal(outcome.error, 'timed out after 0.2s');
  });

  it('a type no executor has and a spec the executor cannot run fail once (retryable: false)', async () => {
    const broker = new RecordingBroker();
    const w = worker(broker, new ExecutorRegistry().register(createShellExecutor()));
    await w.start();
    broker.offer(message('501', 'http', { http: { url: 'http://example.invalid/' } }));
    broker.offer(message('502', 'shell', { shell: { command: [] } }));
    await until('both outcomes', () => (broker.finished('501') && broker.finished('502') ? true : undefined));
    await w.stop();
    assert.match(broker.finished('501')?.error ?? '', /no executor for task type "http"/);
    assert.equal(broker.finished('501')?.retryable, false);
    assert.match(broker.finished('502')?.error ?? '', /shell\.command/);
    assert.equal(broker.finished('502')?.retryable, false);
  });

  it('live logs hold all 40 lines and as much as the output, with the same truncation marker', async () => {
    const broker = new RecordingBroker();
    const w = worker(broker, defaultRegistry(), { outputLimitBytes: 64 * 1024 });
    await w.start();
    broker.offer(message('601', 'shell', { shell: { command: ['sh', '-c', 'for i in $(seq 1 40); do echo "line $i"; sleep 0.005; done'] } }));
    broker.offer(message('602', 'shell', { shell: { command: ['sh', '-c', 'head -c 300000 /dev/zero | tr "\\0" "y"'] } }));
    await until('both outcomes', () => (broker.finished('601') && broker.finished('602') ? true : undefined));
    await w.stop();
    const logOf = (runId: string) => broker.log.filter((e): e is Of<'log'> => e.kind === 'log' && e.runId === runId).map((e) => e.chunk).join('');
    assert.equal(logOf('601'), broker.finished('601')?.output);
    assert.match(logOf('601'), /line 40\n$/);
    const output = broker.finished('602')?.output ?? '';
    assert.match(output, /\[output truncated: \d+ bytes dropped\]$/);
    const log = logOf('602');
    assert.ok(log.startsWith('y'.repeat(64 * 1024)), `the log holds ${log.length} characters, the output ${output.length}`);
    assert.match(log, /\[output truncated: further output is dropped\]\n$/);
  });
});

describe('worker cancels', () => {
  it('stop the attempt they name and no other attempt of the run; a bare run id stops any', async () => {
    const broker = new RecordingBroker();
    const signals = new Map<string, AbortSignal>();
    // runs until its signal aborts, and shows the signal to the test
    const held = {
      type: 'held',
      execute: (_spec: RunMessage['spec'], ctx: { runId: string; signal: AbortSignal }) =>
        new Promise<{ status: 'cancelled'; error: string; output: string; outputTruncated: boolean }>((resolve) => {
          signals.set(ctx.runId, ctx.signal);
          ctx.signal.addEventListener('abort', () => resolve({ status: 'cancelled', error: 'cancelled', output: '', outputTruncated: false }), { once: true });
        }),
    };
    const w = worker(broker, new ExecutorRegistry().register(held));
    await w.start();
    broker.offer({ ...message('7', 'held', {}), attempt: 2 });
    broker.offer(message('9', 'held', {}));
    const seven = await until('attempt 7/2 running', () => signals.get('7'));
    const nine = await until('attempt 9/1 running', () => signals.get('9'));
    const cancel = await until('the cancel subscription', () => broker.cancelHandler);
    // a stale heartbeat's cancel of the settled first attempt must not stop the retry
    cancel(['7/1']);
    assert.equal(seven.aborted, false, 'a cancel of attempt 1 stopped attempt 2');
    cancel(['7/2']);
    assert.equal(seven.aborted, true);
    // a core from before attempts were named sends the run id alone
    cancel(['9']);
    assert.equal(nine.aborted, true);
    await until('both outcomes', () => (broker.finished('7') && broker.finished('9') ? true : undefined));
    assert.equal(broker.finished('7')?.status, 'cancelled');
    await w.stop();
  });
});

describe('LiveLog', () => {
  it('stamps each piece with the time it was read, splits long output, and keeps the order', () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const clock: Clock = { ...systemClock, now: () => now };
    const events: Of<'log'>[] = [];
    const log = new LiveLog(message('701', 'shell', {}), 1024 * 1024, clock, (event) => events.push(event));
    log.write('stdout', 'first\n');
    now += 60_000; // the core may write both much later: the stamps are when the worker read them
    log.write('stderr', 'x'.repeat(20_000));
    assert.deepEqual(events.map((e) => [e.seq, e.stream, e.chunk.length, e.at]), [
      [0, 'stdout', 6, '2026-01-01T00:00:00.000Z'],
      [1, 'stderr', 8192, '2026-01-01T00:01:00.000Z'],
      [2, 'stderr', 8192, '2026-01-01T00:01:00.000Z'],
      [3, 'stderr', 3616, '2026-01-01T00:01:00.000Z'],
    ]);
  });
});
