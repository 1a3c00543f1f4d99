import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createShellExecutor, buildTaskEnv } from '../../worker/executors/shell.ts';
import { runDeadline } from '../../worker/run-deadline.ts';
import { systemClock } from '../../core/clock/index.ts';
import { RunStop, type ExecutionContext } from '../../worker/executors/types.ts';

function ctx(overrides: Partial<ExecutionContext> = {}): ExecutionContext {
  const base: ExecutionContext = {
    runId: 'run-1',
    attempt: 2,
    taskName: 'nightly-report',
    shard: 3,
    shardTotal: 8,
    scheduledTime: '2025-01-01T02:00:00.000Z',
    timeoutMs: 30_000,
    signal: new AbortController().signal,
    outputLimitBytes: 1024 * 1024,
    ...overrides,
  };
  // the worker owns the timeout: the executor sees it only through the signal
  return { ...base, signal: runDeadline(systemClock, base.timeoutMs, base.signal).signal };
}

/**
 * Whether pid still runs. process.kill(pid, 0) throws ESRCH once the process is gone; a killed
 * process whose parent died stays a zombie until PID 1 reaps it (some container inits do so lazily),
 * and a zombie runs nothing, so on Linux its /proc state "Z" also counts as dead.
 */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    assert.equal((err as NodeJS.ErrnoException).code, 'ESRCH');
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false; // gone between the two checks
  }
}

async function waitDead(pid: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!isRunning(pid)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return !isRunning(pid);
}

/** A full GC without --expose-gc on the command line. */
function forceGc(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

const shell = createShellExecutor({ killGraceMs: 300 });

describe('shell executor', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('succeeds and captures stdout and stderr in arrival order, live too', async () => {
    const live: Array<[string, string]> = [];
    const result = await shell.execute(
      { shell: { command: ['sh', '-c', 'echo one; sleep 0.1; echo two >&2; sleep 0.1; echo three'] } },
      ctx({ onOutput: (stream, chunk) => live.push([stream, chunk]) }),
    );
    assert.equal(result.status, 'succeeded');
    assert.equal(result.exitCode, 0);
    assert.equal(result.output, 'one\ntwo\nthree\n');
    assert.equal(result.outputTruncated, false);
    assert.deepEqual(live, [['stdout', 'one\n'], ['stderr', 'two\n'], ['stdout', 'three\n']]);
  });

  it('runs argv without a shell', async () => {
    const result = await shell.execute({ shell: { command: ['echo', '$HOME', 'a;b'] } }, ctx());
    assert.equal(result.status, 'succeeded');
    assert.equal(result.output, '$HOME a;b\n');
  });

  it('fails with the exit code', async () => {
    const result = await shell.execute({ shell: { command: ['sh', '-c', 'echo bad >&2; exit 3'] } }, ctx());
    assert.equal(result.status, 'failed');
    assert.equal(result.exitCode, 3);
    assert.equal(result.error, 'exited with code 3');
    assert.equal(result.output, 'bad\n');
  });

  it('names the signal of a process that was killed by one', async () => {
    const result = await shell.execute({ shell: { command: ['sh', '-c', 'kill -KILL $$'] } }, ctx());
    assert.equal(result.status, 'failed');
    assert.match(result.error ?? '', /SIGKILL/);
  });

  it('reports a command that does not exist', async () => {
    const result = await shell.execute({ shell: { command: ['no-such-command-hourglass-xyz', 'a'] } }, ctx());
    assert.equal(result.status, 'failed');
    assert.equal(result.error, 'command not found: no-such-command-hourglass-xyz');
  });

  it('returns a failed result naming the field for an invalid spec', async () => {
    const empty = await shell.execute({ shell: { command: [] } }, ctx());
    assert.equal(empty.status, 'failed');
    assert.match(empty.error ?? '', /shell\.command/);
    const missing = await shell.execute({}, ctx());
    assert.equal(missing.status, 'failed');
    assert.match(missing.error ?? '', /shell/);
    const extra = await shell.execute({ shell: { command: ['true'], bogus: 1 } }, ctx());
    assert.equal(extra.status, 'failed');
    assert.match(extra.error ?? '', /bogus/);
  });

  it('honours workingDir and reports a missing one', async () => {
    const dir = await realpath(await mkdtemp(join(tmpdir(), 'hourglass-exec-')));
    dirs.push(dir);
    const ok = await shell.execute({ shell: { command: ['pwd'], workingDir: dir } }, ctx());
    assert.equal(ok.status, 'succeeded');
    assert.equal(ok.output, `${dir}\n`);
    const missing = await shell.execute({ shell: { command: ['pwd'], workingDir: join(dir, 'nope') } }, ctx());
    assert.equal(missing.status, 'failed');
    assert.match(missing.error ?? '', /^shell\.workingDir: .*nope does not exist$/);
  });

  it('passes spec env and HOURGLASS_* but not the worker secrets', async () => {
    const saved = { DATABASE_URL: process.env.DATABASE_URL, JWT_SECRET: process.env.JWT_SECRET, PLAIN_WORKER_VAR: process.env.PLAIN_WORKER_VAR };
    process.env.DATABASE_URL = 'postgres://u:p@db/x';
    process.env.JWT_SECRET = 'hunter2';
    process.env.PLAIN_WORKER_VAR = 'not-for-tasks';
    try {
      const result = await shell.execute({ shell: { command: ['env'], env: { GREETING: 'hello' } } }, ctx());
      assert.equal(result.status, 'succeeded');
      const seen = new Map(
        result.output
          .split('\n')
          .filter((l) => l.includes('='))
          .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const),
      );
      assert.equal(seen.has('DATABASE_URL'), false);
      assert.equal(seen.has('JWT_SECRET'), false);
      assert.equal(seen.has('PLAIN_WORKER_VAR'), false, 'the worker environment is not inherited');
      assert.doesNotMatch(result.output, /hunter2/);
      assert.equal(seen.get('GREETING'), 'hello');
      assert.equal(seen.get('HOURGLASS_SHARD_INDEX'), '3');
      assert.equal(seen.get('HOURGLASS_SHARD_TOTAL'), '8');
      assert.equal(seen.get('HOURGLASS_RUN_ID'), 'run-1');
      assert.equal(seen.get('HOURGLASS_ATTEMPT'), '2');
      assert.equal(seen.get('HOURGLASS_TASK'), 'nightly-report');
      assert.equal(seen.get('HOURGLASS_SCHEDULED_TIME'), '2025-01-01T02:00:00.000Z');
      if (process.env.PATH) assert.equal(seen.get('PATH'), process.env.PATH);
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it('filters a given base env with the secret predicate and lets HOURGLASS_* win over spec env', () => {
    const env = buildTaskEnv(
      { HOURGLASS_SHARD_INDEX: 'spoofed', A: '1' },
      ctx(),
      { baseEnv: { PATH: '/bin', REDIS_URL: 'redis://x', STRIPE_API_KEY: 'k', SIGNING_KEY: 'k', AMQP_HOST: 'h' } },
    );
    assert.deepEqual(Object.keys(env).filter((k) => !k.startsWith('HOURGLASS_')).sort(), ['A', 'PATH']);
    assert.equal(env.HOURGLASS_SHARD_INDEX, '3');
  });

  it('caps a 50 MB output, keeps draining, and keeps worker memory bounded', async () => {
    const limit = 64 * 1024;
    const size = 50 * 1024 * 1024;
    let liveBytes = 0;
    const command = ['sh', '-c', `yes 0123456789abcdef0123456789abcdef | head -c ${size}; echo done >&2`];
    // warm up with the same load: the first tens of MB through a pipe grow the heaps (garbage chunks
    // not yet collected) whatever the executor does; the second pass shows what the executor adds
    await shell.execute({ shell: { command } }, ctx({ outputLimitBytes: limit }));
    forceGc();
    const before = process.memoryUsage().rss;
    const result = await shell.execute(
      { shell: { command } },
      ctx({ outputLimitBytes: limit, onOutput: (_s, chunk) => (liveBytes += Buffer.byteLength(chunk)) }),
    );
    const after = process.memoryUsage().rss;
    assert.equal(result.status, 'succeeded', 'the child was never blocked on a full pipe');
    assert.equal(result.outputTruncated, true);
    const marker = `\n[output truncated: ${size + 'done\n'.length - limit} bytes dropped]`;
    assert.ok(result.output.endsWith(marker), result.output.slice(-100));
    assert.equal(Buffer.byteLength(result.output), limit + marker.length);
    assert.ok(result.output.startsWith('0123456789abcdef0123456789abcdef\n'));
    assert.ok(liveBytes < limit + 200, `live output is capped too (${liveBytes})`);
    const grownMb = (after - before) / 1024 / 1024;
    if (process.env.HOURGLASS_TEST_VERBOSE) console.log(`rss grew by ${grownMb.toFixed(1)} MB`);
    // keeping the 50 MB would grow rss by 50 MB at least (about 100 MB as a string plus chunks)
    assert.ok(grownMb < 40, `rss grew by ${grownMb.toFixed(1)} MB`);
  });

  it('keeps multi-byte characters whole at the cap', async () => {
    const result = await shell.execute({ shell: { command: ['printf', 'ééééé'] } }, ctx({ outputLimitBytes: 5 }));
    assert.equal(result.outputTruncated, true);
    assert.ok(result.output.startsWith('éé\n[output truncated: 6 bytes dropped]'), result.output);
  });

  it('times out and kills the whole group, including a TERM-ignoring grandchild', async () => {
    const started = Date.now();
    const result = await shell.execute(
      { shell: { command: ['sh', '-c', 'trap "" TERM; sleep 1000 & echo "$!"; sleep 1000'] } },
      ctx({ timeoutMs: 400 }),
    );
    const elapsed = Date.now() - started;
    assert.equal(result.status, 'timed_out');
    assert.equal(result.error, 'timed out after 0.4s');
    assert.ok(elapsed >= 400 && elapsed < 5000, `took ${elapsed} ms`);
    const pid = Number(result.output.trim());
    assert.ok(Number.isInteger(pid) && pid > 0, `pid echoed: ${result.output}`);
    assert.equal(isRunning(pid), false, 'the background grandchild is dead when the promise resolves');
  });

  it('kills group members left behind when the leader exits', async () => {
    const result = await shell.execute({ shell: { command: ['sh', '-c', 'sleep 1000 >/dev/null 2>&1 & echo "$!"'] } }, ctx());
    assert.equal(result.status, 'succeeded');
    const pid = Number(result.output.trim());
    assert.ok(pid > 0);
    assert.equal(await waitDead(pid, 2000), true);
  });

  it('cancels through the abort signal', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const pending = shell.execute(
      { shell: { command: ['sh', '-c', 'sleep 1000 & echo "$!"; wait'] } },
      ctx({ signal: controller.signal, onOutput: () => controller.abort() }),
    );
    const result = await pending;
    assert.equal(result.status, 'cancelled');
    assert.ok(Date.now() - started < 5000);
    const pid = Number(result.output.trim());
    assert.ok(pid > 0);
    assert.equal(isRunning(pid), false);
  });

  it('on a worker shutdown, reports the exit status of a process that had already exited 0 (the drain-timeout race)', async () => {
    const controller = new AbortController();
    const result = await shell.execute(
      { shell: { command: ['sh', '-c', 'echo done'] } },
      ctx({
        signal: controller.signal,
        onOutput: () => {
          // the process exits while this thread is busy, so its 'exit' event is still unread when the stop comes
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
          controller.abort(new RunStop('shutdown', 'interrupted by worker shutdown'));
        },
      }),
    );
    assert.equal(result.status, 'succeeded', `a process that exited 0 before the stop was read: ${result.error}`);
    assert.equal(result.exitCode, 0);
  });

  it('on a worker shutdown, a process that exits 0 on SIGTERM succeeded, and one killed by it failed', async () => {
    const graceful = new AbortController();
    const trapped = await shell.execute(
      { shell: { command: ['sh', '-c', 'trap "exit 0" TERM; echo up; sleep 1000 & wait'] } },
      ctx({ signal: graceful.signal, onOutput: () => graceful.abort(new RunStop('shutdown', 'interrupted by worker shutdown')) }),
    );
    assert.equal(trapped.status, 'succeeded');
    const killed = new AbortController();
    const result = await shell.execute(
      { shell: { command: ['sh', '-c', 'echo up; sleep 1000'] } },
      ctx({ signal: killed.signal, onOutput: () => killed.abort(new RunStop('shutdown', 'interrupted by worker shutdown')) }),
    );
    assert.equal(result.status, 'failed');
    assert.match(result.error ?? '', /SIGTERM/);
  });

  it('a cancel is the outcome even when the process had already exited 0', async () => {
    const controller = new AbortController();
    const result = await shell.execute(
      { shell: { command: ['sh', '-c', 'echo done'] } },
      ctx({
        signal: controller.signal,
        onOutput: () => {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
          controller.abort(new RunStop('cancelled', 'cancelled'));
        },
      }),
    );
    assert.equal(result.status, 'cancelled');
  });

  it('does not start a run that is already cancelled', async () => {
    const controller = new AbortController();
    controller.abort();
    const result = await shell.execute({ shell: { command: ['sh', '-c', 'echo ran'] } }, ctx({ signal: controller.signal }));
    assert.equal(result.status, 'cancelled');
    assert.equal(result.output, '');
  });

  it('runs a node child via process.execPath', async () => {
    const result = await shell.execute({ shell: { command: [process.execPath, '-e', 'process.stdout.write(String(6*7))'] } }, ctx());
    assert.equal(result.status, 'succeeded');
    assert.equal(result.output, '42');
  });
});

describe('shell executor and binary output', () => {
  it('keeps NUL bytes readable as U+2400, since Postgres text cannot store them', async () => {
    const live: string[] = [];
    const result = await createShellExecutor().execute(
      { shell: { command: ['printf', 'a\\000b\\000'] } },
      ctx({ onOutput: (_stream, chunk) => live.push(chunk) }),
    );
    assert.equal(result.status, 'succeeded');
    assert.equal(result.output, 'a\u2400b\u2400');
    assert.ok(!live.join('').includes('\u0000'), 'live output is clean too');
  });
});
