import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ExecutorRegistry, createNoopExecutor, defaultRegistry } from '../../worker/executors/index.ts';
import { runDeadline } from '../../worker/run-deadline.ts';
import { systemClock } from '../../core/clock/index.ts';
import type { ExecutionContext, Executor } from '../../worker/executors/index.ts';

function ctx(overrides: Partial<ExecutionContext> = {}): ExecutionContext {
  const base: ExecutionContext = {
    runId: 'run-1',
    attempt: 1,
    taskName: 'bench',
    shard: 0,
    shardTotal: 1,
    scheduledTime: '2025-01-01T00:00:00.000Z',
    timeoutMs: 10_000,
    signal: new AbortController().signal,
    outputLimitBytes: 1024,
    ...overrides,
  };
  // the worker owns the timeout: the executor sees it only through the signal
  return { ...base, signal: runDeadline(systemClock, base.timeoutMs, base.signal).signal };
}

describe('noop executor', () => {
  const noop = createNoopExecutor();

  it('succeeds at once', async () => {
    const started = Date.now();
    const result = await noop.execute({}, ctx());
    assert.equal(noop.type, 'noop');
    assert.equal(result.status, 'succeeded');
    assert.equal(result.output, '');
    assert.ok(Date.now() - started < 100);
  });

  it('sleeps for params.sleepMs and fails on params.fail', async () => {
    const started = Date.now();
    const slept = await noop.execute({ params: { sleepMs: 120, output: 'hi' } }, ctx());
    assert.ok(Date.now() - started >= 110);
    assert.equal(slept.status, 'succeeded');
    assert.equal(slept.output, 'hi');
    const failed = await noop.execute({ params: { fail: 'simulated' } }, ctx());
    assert.equal(failed.status, 'failed');
    assert.equal(failed.error, 'simulated');
    const failedTrue = await noop.execute({ params: { fail: true } }, ctx());
    assert.equal(failedTrue.status, 'failed');
  });

  it('honours timeout and cancel while sleeping, and rejects bad params by name', async () => {
    const timedOut = await noop.execute({ params: { sleepMs: 5000 } }, ctx({ timeoutMs: 50 }));
    assert.equal(timedOut.status, 'timed_out');
    assert.equal(timedOut.error, 'timed out after 0.05s');
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 30);
    const cancelled = await noop.execute({ params: { sleepMs: 5000 } }, ctx({ signal: controller.signal }));
    assert.equal(cancelled.status, 'cancelled');
    const bad = await noop.execute({ params: { sleepMs: 'soon' } }, ctx());
    assert.equal(bad.status, 'failed');
    assert.match(bad.error ?? '', /params\.sleepMs/);
  });
});

describe('executor registry', () => {
  it('registers, looks up and lists executors', () => {
    const custom: Executor = { type: 'custom', execute: async () => ({ status: 'succeeded', output: '', outputTruncated: false }) };
    const registry = new ExecutorRegistry();
    assert.equal(registry.register(custom), registry);
    assert.equal(registry.get('custom'), custom);
    assert.equal(registry.get('shell'), undefined);
    assert.deepEqual(registry.types(), ['custom']);
  });

  it('refuses a second executor for the same type', () => {
    const registry = new ExecutorRegistry().register(createNoopExecutor());
    assert.throws(() => registry.register(createNoopExecutor()), /noop.*already registered/);
  });

  it('default registry holds shell, http and noop', async () => {
    const registry = defaultRegistry({ shell: { killGraceMs: 100 } });
    assert.deepEqual(registry.types().sort(), ['http', 'noop', 'shell']);
    const shell = registry.get('shell');
    assert.ok(shell);
    const result = await shell.execute({ shell: { command: ['sh', '-c', 'printf "%s" "$HOURGLASS_TASK"'] } }, ctx());
    assert.equal(result.status, 'succeeded');
    assert.equal(result.output, 'bench');
  });
});
