import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT } from '../support/processes.ts';
import { skipUnless } from '../support/services.ts';

/**
 * `npm run bench -- --quick --json` as CI runs it: every scenario on every system once, at small counts
 * (but `history`, left out of --quick for its time: `npm run bench -- --quick --scenario history` runs it).
 * It asserts the shape of the report and that every figure is a real number, never anything about speed.
 */

interface Row {
  system: string;
  metric: string;
  median: number;
  min: number;
  max: number;
}

function runQuickBench(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bench', 'run.ts'), '--quick', '--json'], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 900_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * counts (missed, late and duplicate fires, partition moves in a steady window, partitions told held twice,
 * refused or failed dispatcher writes, writes while idle or on a relist) are rightly zero, and so is the catch-up's
 * other_fire_* lag when the fire lead wrote those fires ahead (a prepared run is queued at its slot); every other
 * figure is positive
 */
const mayBeZero = (metric: string) => /missed|duplicate|steady_moves|told_overlaps|refusals|failures|idle_writes|relist_(task_)?writes|other_fire_/.test(metric);

describe('bench --quick', { skip: await skipUnless('postgres', 'redis', 'rabbitmq'), timeout: 900_000 }, () => {
  // the suite's per-test default (180 s) is too short for every scenario and system in turn; the bench's own kill is at 900 s
  it('runs every scenario on every system and reports finite figures in the documented JSON shape', { timeout: 900_000 }, async () => {
    const { code, stdout, stderr } = await runQuickBench();
    assert.equal(code, 0, `bench exited with ${code}:\n${stderr.slice(-3000)}`);
    const report = JSON.parse(stdout) as { machine: Record<string, unknown>; scenarios: Array<{ name: string; rows: Row[]; notes: string[] }> };
    assert.equal(typeof report.machine.cpus, 'number');
    assert.ok(report.machine.versions, 'versions of the systems compared');
    assert.deepEqual(report.scenarios.map((s) => s.name), ['throughput', 'throughput-spread', 'latency', 'schedule-lag', 'scale', 'partitions', 'catch-up', 'operator']);
    const failures = report.scenarios.flatMap((s) => s.notes.filter((n) => n.includes('failed')));
    assert.deepEqual(failures, [], 'no system failed');
    const systemsOf = (name: string) => new Set(report.scenarios.find((s) => s.name === name)?.rows.map((r) => r.system));
    for (const name of ['throughput', 'throughput-spread', 'latency']) {
      assert.deepEqual([...systemsOf(name)].sort(), ['bullmq', 'graphile-worker', 'hourglass/postgres', 'hourglass/rabbitmq', 'hourglass/redis_stream', 'pg-boss']);
    }
    assert.ok(systemsOf('schedule-lag').has('bullmq') && systemsOf('schedule-lag').has('hourglass/postgres'));
    assert.ok(systemsOf('scale').has('hourglass/postgres'));
    assert.ok(systemsOf('partitions').has('hourglass/postgres'));
    assert.ok(systemsOf('catch-up').has('hourglass/postgres'));
    assert.ok(systemsOf('operator').has('hourglass/operator'));
    for (const scenario of report.scenarios) {
      assert.ok(scenario.rows.length > 0, `${scenario.name} has rows`);
      for (const row of scenario.rows) {
        assert.deepEqual(Object.keys(row).sort(), ['max', 'median', 'metric', 'min', 'system']);
        for (const value of [row.median, row.min, row.max]) {
          assert.ok(Number.isFinite(value), `${scenario.name} ${row.system} ${row.metric}: ${value} is finite`);
          assert.ok(mayBeZero(row.metric) ? value >= 0 : value > 0, `${scenario.name} ${row.system} ${row.metric}: ${value}`);
        }
        assert.ok(row.min <= row.median && row.median <= row.max);
      }
    }
    for (const row of report.scenarios.find((s) => s.name === 'schedule-lag')?.rows ?? []) {
      if (/missed|duplicates/.test(row.metric) && row.system.startsWith('hourglass/')) assert.equal(row.max, 0, `${row.system} ${row.metric}`);
    }
    // partitioned leadership: one run per slot, none without, and every partition held after each move
    const partitions = new Map(report.scenarios.find((s) => s.name === 'partitions')?.rows.map((r) => [r.metric, r]));
    for (const metric of ['duplicates', 'duplicate_starts', 'missed_slots', 'told_overlaps']) assert.equal(partitions.get(metric)?.max, 0, `partitions ${metric}`);
    for (const metric of ['held_after_kill', 'held_after_vanish', 'held_after_join']) assert.equal(partitions.get(metric)?.min, 64, `partitions ${metric}`);
  });
});
