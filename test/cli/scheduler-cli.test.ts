import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { skipUnless } from '../support/services.ts';
import { freePort, tracked, useE2eWorld, waitFor, type FailureFlag } from '../support/processes.ts';
import { CLI_BIN, cliFor, json, show, type CliResult } from './cli-support.ts';
import { ADMIN_KEY, READ_KEY, startSystem } from './system-under-test.ts';

const FINISHED = ['succeeded', 'failed', 'timed_out', 'cancelled'];

describe('scheduler-cli against scheduler --mode all (postgres, API keys on)', { skip: await skipUnless('postgres') }, () => {
  const flag: FailureFlag = { failed: false };
  const world = useE2eWorld(flag);
  let url: string;
  let cli: ReturnType<typeof cliFor>;

  before(tracked(flag, async () => {
    ({ url } = await startSystem(world));
    cli = cliFor(url, { SCHEDULER_API_KEY: ADMIN_KEY });
  }));

  const ok = async (args: string[], input?: string): Promise<CliResult> => {
    const result = await cli(args, input === undefined ? {} : { input });
    assert.equal(result.code, 0, `${args.join(' ')}: ${show(result)}`);
    return result;
  };
  /** scheduler-cli with a pseudo-terminal for stdout and stderr (merged into stdout). */
  const inTerminal = (args: string[]) =>
    new Promise<CliResult>((resolve) => {
      const quote = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`;
      const command = [process.execPath, CLI_BIN, ...args].map(quote).join(' ');
      const env: NodeJS.ProcessEnv = { ...process.env, SCHEDULER_API_URL: url, SCHEDULER_API_KEY: ADMIN_KEY };
      delete env.NODE_TEST_CONTEXT;
      execFile('script', ['-qec', command, '/dev/null'], { env, timeout: 60_000 }, (error, stdout, stderr) =>
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  const createTask = async (name: string, command: string, extra = '') => {
    const file = path.join(world.tmp.dir, `${name}.yaml`);
    writeFileSync(file, `name: ${name}\ntype: shell\nshell:\n  command: [sh, -c, ${JSON.stringify(command)}]\n${extra}`);
    return json(await ok(['task', 'create', '-f', file, '-o', 'json']));
  };
  const finishedRun = (id: string) =>
    waitFor(async () => {
      const run = json(await ok(['run', 'get', id, '-o', 'json']));
      return FINISHED.includes(run.status) ? run : undefined;
    }, 30_000, 300, `run ${id} to finish`);

  it('task create, list (with filters), get, suspend, resume, history, stats and delete', tracked(flag, async () => {
    const created = await createTask('cli-hello', 'echo hello from cli', 'schedule: "0 3 * * *"\ntimeZone: Europe/Paris\nlabels:\n  team: data\n');
    assert.equal(created.name, 'cli-hello');
    assert.equal(created.timeZone, 'Europe/Paris');
    await createTask('cli-other', 'true');

    const listed = json(await ok(['task', 'list', '-o', 'json']));
    assert.deepEqual(listed.map((t: { name: string }) => t.name).sort(), ['cli-hello', 'cli-other']);
    const byLabel = json(await ok(['task', 'list', '-l', 'team=data', '-o', 'json']));
    assert.deepEqual(byLabel.map((t: { name: string }) => t.name), ['cli-hello']);
    const limited = json(await ok(['task', 'list', '--limit', '1', '-o', 'json']));
    assert.equal(limited.length, 1, 'the limit holds across pages');
    const table = await ok(['task', 'list']);
    assert.match(table.stdout, /^NAME\s+TYPE\s+SCHEDULE/m);
    assert.match(table.stdout, /cli-hello\s+shell\s+0 3 \* \* \*/);
    const yaml = await ok(['task', 'get', 'cli-hello', '-o', 'yaml']);
    assert.match(yaml.stdout, /^name: cli-hello$/m);

    assert.equal(json(await ok(['task', 'suspend', 'cli-hello', '-o', 'json'])).suspend, true);
    assert.equal(json(await ok(['task', 'get', 'cli-hello', '-o', 'json'])).suspend, true);
    assert.match((await ok(['task', 'resume', 'cli-hello'])).stdout, /task cli-hello resumed/);
    assert.equal(json(await ok(['task', 'get', created.id, '-o', 'json'])).suspend, false, 'a task is found by id as well as by name');

    const run = json(await ok(['task', 'trigger', 'cli-hello', '-o', 'json']));
    assert.equal(run.trigger, 'manual');
    assert.equal((await finishedRun(run.id)).status, 'succeeded');
    const history = json(await ok(['task', 'history', 'cli-hello', '-o', 'json']));
    assert.deepEqual(history.map((r: { id: string }) => r.id), [run.id]);
    const stats = json(await ok(['task', 'stats', 'cli-hello', '--days', '3', '-o', 'json']));
    assert.equal(stats.days, 3);
    assert.equal(stats.total, 1);
    assert.equal(stats.byStatus.succeeded, 1);

    const preview = json(await ok(['schedule', 'preview', '--task', 'cli-hello', '--count', '2', '--from', '2026-03-28T00:00:00Z', '-o', 'json']));
    assert.deepEqual(preview.map((f: { local: string }) => f.local), ['2026-03-28T03:00:00+01:00', '2026-03-29T03:00:00+02:00'], "the task's own schedule and zone");

    assert.match((await ok(['task', 'delete', 'cli-other'])).stdout, /task cli-other deleted/);
    const gone = await cli(['task', 'get', 'cli-other']);
    assert.equal(gone.code, 3, show(gone));
  }));

  it('run list, get, logs, logs --follow, cancel and retry', tracked(flag, async () => {
    await createTask('cli-slow', 'echo first; sleep 1.5; echo second');
    const slow = json(await ok(['task', 'trigger', 'cli-slow', '-o', 'json']));
    // --follow streams until the run ends, and only then exits
    const followed = await ok(['run', 'logs', slow.id, '--follow']);
    assert.equal(followed.stdout, 'first\nsecond\n');
    assert.match(followed.stderr, new RegExp(`run ${slow.id} succeeded`));
    assert.equal((await ok(['run', 'logs', slow.id])).stdout, 'first\nsecond\n');
    const shown = await ok(['run', 'get', slow.id]);
    assert.match(shown.stdout, /^status:\s+succeeded$/m);
    assert.match(shown.stdout, /output:\nfirst\nsecond\n/);

    const triggered = await ok(['task', 'trigger', 'cli-slow', '--follow']);
    assert.equal(triggered.stdout, 'first\nsecond\n', 'trigger --follow streams the log');
    assert.match(triggered.stderr, /run \d+ succeeded/);
    await createTask('cli-fails', 'echo failing; exit 3');
    const failed = await cli(['task', 'trigger', 'cli-fails', '--wait', '-o', 'json']);
    assert.equal(failed.code, 7, `a failed run under --wait: ${show(failed)}`);
    assert.equal(json(failed).status, 'failed');
    assert.equal(json(failed).exitCode, 3);

    await createTask('cli-sleeper', 'sleep 60');
    const sleeper = json(await ok(['task', 'trigger', 'cli-sleeper', '-o', 'json']));
    await waitFor(async () => json(await ok(['run', 'get', sleeper.id, '-o', 'json'])).status === 'running', 20_000, 300, 'the sleeper to run');
    const running = json(await ok(['run', 'list', '--status', 'running', '-o', 'json']));
    assert.deepEqual(running.map((r: { id: string }) => r.id), [sleeper.id]);
    json(await ok(['run', 'cancel', sleeper.id, '-o', 'json']));
    assert.equal((await finishedRun(sleeper.id)).status, 'cancelled');
    const again = await cli(['run', 'cancel', sleeper.id]);
    assert.equal(again.code, 6, `cancelling a finished run is a conflict: ${show(again)}`);

    const retried = json(await ok(['run', 'retry', sleeper.id, '-o', 'json']));
    assert.notEqual(retried.id, sleeper.id);
    assert.equal(retried.taskName, 'cli-sleeper');
    await ok(['run', 'cancel', retried.id]);

    const ofTask = json(await ok(['run', 'list', '--task', 'cli-slow', '--from', '1h', '-o', 'json']));
    assert.equal(ofTask.length, 2);
    assert.ok(ofTask.some((r: { id: string }) => r.id === slow.id));
    const none = json(await ok(['run', 'list', '--task', 'cli-slow', '--to', '2000-01-01T00:00:00Z', '-o', 'json']));
    assert.deepEqual(none, []);
    const missing = await cli(['run', 'get', '999999']);
    assert.equal(missing.code, 3, show(missing));
  }));

  it('worker list, status, get; pool list; system info', tracked(flag, async () => {
    const workers = json(await ok(['worker', 'list', '-o', 'json']));
    assert.equal(workers.length, 1);
    assert.equal(workers[0].status, 'ALIVE');
    const id = workers[0].id as string;
    const status = json(await ok(['worker', 'status', '-o', 'json']));
    assert.equal(status.alive, 1);
    assert.equal(status.capacity, workers[0].concurrency);
    assert.match((await ok(['worker', 'status'])).stdout, /^1 alive, 0 draining, 0 down; /);
    assert.equal(json(await ok(['worker', 'get', id, '-o', 'json'])).id, id);
    assert.ok(json(await ok(['worker', 'status', id, '-o', 'json'])), 'one worker\'s statistics');
    assert.deepEqual(json(await ok(['worker', 'list', '--status', 'DOWN', '-o', 'json'])), []);
    const pools = json(await ok(['pool', 'list', '-o', 'json']));
    assert.ok(pools.some((p: { name: string }) => p.name === 'default'), JSON.stringify(pools));
    assert.equal(json(await ok(['system', 'info', '-o', 'json'])).mode, 'all');
  }));

  it('data cleanup (dry run, then batches) deletes only finished runs older than the cutoff; vacuum; reindex', tracked(flag, async () => {
    // a missed fire never ran: no finished_at, its creation time dates it
    await world.sql.query(
      `INSERT INTO hg_runs (task_id, scheduled_time, trigger, status, pool, created_at)
       SELECT id, now() - interval '2 days', 'schedule', 'missed', 'default', now() - interval '2 days' FROM hg_tasks WHERE name = 'cli-hello'`,
    );
    const { rows: [before] } = await world.sql.query<{ finished: string; logs: string }>(
      `SELECT (SELECT count(*) FROM hg_runs WHERE status IN ('succeeded','failed','timed_out','cancelled','missed','skipped')) AS finished,
              (SELECT count(*) FROM hg_run_logs l JOIN hg_runs r ON r.id = l.run_id WHERE r.status IN ('succeeded','failed','timed_out','cancelled','missed','skipped')) AS logs`,
    );
    assert.ok(Number(before!.finished) >= 3, 'earlier tests left finished runs');
    // an active run that is older than the cutoff too: it must survive
    const active = json(await ok(['task', 'trigger', 'cli-sleeper', '-o', 'json']));
    await waitFor(async () => json(await ok(['run', 'get', active.id, '-o', 'json'])).status === 'running', 20_000, 300, 'the active run');
    await new Promise((resolve) => setTimeout(resolve, 1100));

    const dry = json(await ok(['data', 'cleanup', '--older-than', '1s', '--dry-run', '-o', 'json']));
    assert.equal(dry.dryRun, true);
    assert.equal(dry.runs, Number(before!.finished));
    assert.equal(dry.logs, Number(before!.logs));
    const { rows: [still] } = await world.sql.query<{ n: string }>('SELECT count(*) AS n FROM hg_runs');
    assert.ok(Number(still!.n) > Number(before!.finished), 'the dry run deleted nothing');

    // on a terminal (script(1) gives it one) the batches draw a progress bar on stderr
    const done = await inTerminal(['data', 'cleanup', '--older-than', '1s', '--batch-size', '2']);
    assert.equal(done.code, 0, show(done));
    assert.match(done.stdout, /\r\[#{30}\] 100% {2}\d+\/\d+ runs/, 'a progress bar that reaches 100%');
    assert.match(done.stdout, new RegExp(`deleted ${before!.finished} finished runs and ${before!.logs} log chunks`));
    const { rows: left } = await world.sql.query<{ id: string; status: string }>('SELECT id::text, status FROM hg_runs');
    assert.deepEqual(left.map((r) => r.id), [String(active.id)], 'only the active run is left');
    await ok(['run', 'cancel', active.id]);

    const vacuum = json(await ok(['data', 'vacuum', '-o', 'json']));
    assert.ok(vacuum.tables.includes('hg_runs'), JSON.stringify(vacuum));
    assert.match((await ok(['data', 'reindex'])).stdout, /^reindexed \d+ tables/);
    const bad = await cli(['data', 'cleanup', '--older-than', 'soon']);
    assert.equal(bad.code, 2, show(bad));
  }));

  it('error paths: unreachable API, no key, bad key, read-only key, unknown task, usage, invalid file', tracked(flag, async () => {
    const port = await freePort();
    const unreachable = await cliFor(`http://127.0.0.1:${port}`)(['task', 'list']);
    assert.equal(unreachable.code, 5, show(unreachable));
    assert.match(unreachable.stderr, /^scheduler-cli: cannot reach the API at http:\/\/127\.0\.0\.1:\d+: /);
    assert.doesNotMatch(unreachable.stderr, /\n\s+at /, 'no stack trace');

    const noKey = await cliFor(url)(['task', 'list']);
    assert.equal(noKey.code, 4, show(noKey));
    assert.match(noKey.stderr, /required/);
    assert.match(noKey.stderr, /hint: pass --api-key or set SCHEDULER_API_KEY/);
    const badKey = await cliFor(url)(['--api-key', 'wrong', 'task', 'list']);
    assert.equal(badKey.code, 4, show(badKey));
    const reader = cliFor(url, { SCHEDULER_API_KEY: READ_KEY });
    assert.equal((await reader(['task', 'list', '-o', 'json'])).code, 0, 'a read key reads');
    const forbidden = await reader(['task', 'trigger', 'cli-hello']);
    assert.equal(forbidden.code, 4, show(forbidden));
    assert.match(forbidden.stderr, /TaskWrite/);
    const noSystemWrite = await reader(['data', 'vacuum']);
    assert.equal(noSystemWrite.code, 4, `data maintenance needs SystemWrite: ${show(noSystemWrite)}`);

    const unknown = await cli(['task', 'trigger', 'no-such-task']);
    assert.equal(unknown.code, 3, show(unknown));
    assert.match(unknown.stderr, /no-such-task/);
    for (const args of [['task', 'frobnicate'], ['task', 'get'], ['task', 'list', '--limit', 'many'], ['--output', 'xml', 'task', 'list']]) {
      const usage = await cli(args);
      assert.equal(usage.code, 2, `${args.join(' ')}: ${show(usage)}`);
    }

    const file = path.join(world.tmp.dir, 'bad-task.yaml');
    writeFileSync(file, 'name: bad-one\ntype: shell\nshell:\n  command: [sh, -c, "true"]\nschedule: "61 * * * *"\ntimeoutSeconds: -1\n');
    const invalid = await cli(['task', 'create', '-f', file]);
    assert.equal(invalid.code, 1, show(invalid));
    assert.match(invalid.stderr, /bad-task\.yaml:5:1: schedule: /, 'the API\'s problem is pointed at the line of the file');
    assert.match(invalid.stderr, /bad-task\.yaml:6:1: timeoutSeconds: /);
    writeFileSync(file, 'name: broken\n  type: [shell\n');
    const broken = await cli(['task', 'create', '-f', file]);
    assert.equal(broken.code, 1, show(broken));
    assert.match(broken.stderr, /bad-task\.yaml:\d+:\d+: /);
  }));

  it('worker drain (last: it stops the only worker)', tracked(flag, async () => {
    const [worker] = json(await ok(['worker', 'list', '-o', 'json']));
    const drained = json(await ok(['worker', 'drain', worker.id, '-o', 'json']));
    assert.ok(['DRAINING', 'DOWN'].includes(drained.status), JSON.stringify(drained));
    await waitFor(async () => json(await ok(['worker', 'get', worker.id, '-o', 'json'])).status !== 'ALIVE', 20_000, 300, 'the worker to drain');
  }));
});
