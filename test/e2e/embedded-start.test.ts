import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  REPO_ROOT, api, dumpIfFailed, freePort, killAll, startProcess, tempDir, tracked, waitFor,
  type Api, type FailureFlag, type Proc,
} from '../support/processes.ts';

/** `npm start`, word for word, but with this node and in a temp cwd so ./data lands outside the repo. */
function npmStartCommand(): { script: string; args: string[] } {
  const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const words = pkg.scripts.start!.split(/\s+/).filter(Boolean);
  assert.equal(words[0], 'node', `npm start runs ${pkg.scripts.start}`);
  return { script: path.resolve(REPO_ROOT, words[1]!), args: words.slice(2) };
}

// No infrastructure at all: no database, no broker (the embedded PGlite default).
const EMBEDDED_ENV = {
  DATABASE_URL: undefined,
  MESSAGE_QUEUE_TYPE: undefined,
  MESSAGE_QUEUE_URL: undefined,
  ENVIRONMENT: undefined,
  WORKER_ID: undefined,
  LOG_LEVEL: 'info',
  LOG_FORMAT: 'json', // the tests read log lines as JSON
};

describe('npm start: embedded database, no infrastructure', () => {
  const flag: FailureFlag = { failed: false };
  let tmp: ReturnType<typeof tempDir>;
  let port: number;
  let proc: Proc;
  let client: Api;
  const start = async (name: string) => {
    const { script, args } = npmStartCommand();
    proc = startProcess({ name, script, args, cwd: tmp.dir, env: { ...EMBEDDED_ENV, API_BIND_ADDRESS: `127.0.0.1:${port}` } });
    await proc.waitForLine(/API listening/, 60_000);
    return proc;
  };

  before(tracked(flag, async () => {
    tmp = tempDir('hg-e2e-embedded-');
    port = await freePort();
    client = api(`http://127.0.0.1:${port}`);
  }));

  after(async () => {
    dumpIfFailed(flag.failed);
    await killAll();
    tmp?.remove();
  });

  let taskId: string;
  let runId: string;

  it('starts embedded, runs a triggered shell task, and stops cleanly', tracked(flag, async () => {
    await start('embedded-1');
    const startLine = await proc.waitForLine(/"msg":"starting"/, 1000);
    const started = JSON.parse(startLine) as { database: string; queue: string };
    assert.match(started.database, /^embedded \(/, startLine);
    assert.equal(started.database, `embedded (${path.join(tmp.dir, 'data')})`);
    assert.equal(started.queue, 'postgres');

    const health = await client.get('/health');
    assert.equal(health.status, 200, JSON.stringify(health.body));

    const created = await client.post('/api/tasks', { name: 'hello', type: 'shell', shell: { command: ['sh', '-c', 'echo hello from $0'] } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.nextScheduleTime, null, 'an on-demand task has no next fire');
    taskId = created.body.id;
    const triggered = await client.post(`/api/tasks/${taskId}/trigger`);
    assert.equal(triggered.status, 201, JSON.stringify(triggered.body));
    runId = triggered.body.id;
    const run = await waitFor(async () => {
      const res = await client.get(`/api/task-runs/${runId}`);
      return ['succeeded', 'failed', 'timed_out', 'cancelled'].includes(res.body.status) ? res.body : undefined;
    }, 15_000, 200, 'the triggered run to finish');
    assert.equal(run.status, 'succeeded', JSON.stringify(run));
    assert.equal(run.output, 'hello from sh\n');
    assert.equal(run.exitCode, 0);

    proc.kill('SIGTERM');
    assert.deepEqual(await proc.waitForExit(15_000), { code: 0, signal: null });
  }));

  it('keeps the task and its run across a restart on the same data dir', tracked(flag, async () => {
    assert.ok(taskId && runId, 'the first test created a task and a run');
    await start('embedded-2');
    const task = await client.get(`/api/tasks/${taskId}`);
    assert.equal(task.status, 200, JSON.stringify(task.body));
    assert.equal(task.body.name, 'hello');
    assert.equal(task.body.lastRun?.id, runId);
    const run = await client.get(`/api/task-runs/${runId}`);
    assert.equal(run.status, 200);
    assert.equal(run.body.status, 'succeeded');
    assert.equal(run.body.output, 'hello from sh\n');
  }));

  const BAD_INPUTS: { field: string; body: Record<string, unknown> }[] = [
    { field: 'schedule', body: { name: 'bad-cron', type: 'shell', shell: { command: ['true'] }, schedule: '61 25 * * *' } },
    { field: 'timeZone', body: { name: 'bad-zone', type: 'shell', shell: { command: ['true'] }, schedule: '0 * * * *', timeZone: 'Mars/Olympus_Mons' } },
    { field: 'shell', body: { name: 'no-shell', type: 'shell' } },
    { field: 'timeoutSeconds', body: { name: 'bad-timeout', type: 'shell', shell: { command: ['true'] }, timeoutSeconds: -1 } },
  ];
  for (const { field, body } of BAD_INPUTS) {
    it(`refuses a bad ${field} with a 400 problem naming it`, tracked(flag, async () => {
      const res = await client.post('/api/tasks', body);
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
      assert.ok(Array.isArray(res.body.errors), JSON.stringify(res.body));
      assert.ok(
        res.body.errors.some((e: { path: string }) => e.path === field),
        `errors[] does not name ${field}: ${JSON.stringify(res.body.errors)}`,
      );
      const list = await client.get('/api/tasks?limit=100');
      assert.ok(!list.body.items.some((t: { name: string }) => t.name === body.name), 'the refused task was stored');
    }));
  }

  it('scheduler-cli creates, lists and triggers a task and shows the run, with clear errors', tracked(flag, async () => {
    const cli = (...args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(process.execPath, [path.join(REPO_ROOT, 'cli/bin/scheduler-cli.ts'), '--api-url', `http://127.0.0.1:${port}`, ...args], (error, stdout, stderr) =>
          resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        );
      });
    const file = path.join(tmp.dir, 'task.yaml');
    writeFileSync(file, 'name: from-cli\ntype: shell\nshell:\n  command: [sh, -c, "echo via cli"]\n');
    assert.equal((await cli('task', 'create', '-f', file)).code, 0);
    const listed = await cli('task', 'list', '-o', 'json');
    assert.ok((JSON.parse(listed.stdout) as Array<{ name: string }>).some((t) => t.name === 'from-cli'));
    const triggered = JSON.parse((await cli('task', 'trigger', 'from-cli', '-o', 'json')).stdout) as { id: string };
    const shown = await waitFor(async () => {
      const result = await cli('run', 'get', triggered.id, '-o', 'json');
      const parsed = JSON.parse(result.stdout) as { status: string; output: string };
      return parsed.status === 'succeeded' ? parsed : undefined;
    }, 20_000);
    assert.equal(shown.output, 'via cli\n');
    const table = await cli('task', 'history', 'from-cli');
    assert.match(table.stdout, /^ID\s+TASKNAME\s+ATTEMPT/m);
    assert.match(table.stdout, /succeeded/);
    const missing = await cli('task', 'get', 'no-such-task');
    assert.equal(missing.code, 3, 'not found has its own exit code');
    assert.match(missing.stderr, /task "no-such-task" not found/);
    writeFileSync(file, 'name: bad\ntype: shell\n');
    const invalid = await cli('task', 'create', '-f', file);
    assert.equal(invalid.code, 1);
    assert.match(invalid.stderr, /shell: is required when type is "shell"/);
  }));

  it('stops cleanly on SIGTERM after the restart', tracked(flag, async () => {
    proc.kill('SIGTERM');
    assert.deepEqual(await proc.waitForExit(15_000), { code: 0, signal: null });
  }));
});
