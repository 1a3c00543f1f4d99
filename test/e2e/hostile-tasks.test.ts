import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { SERVICE_URLS, skipUnless, uniqueNamespace } from '../support/services.ts';
import {
  backendEnv, startAllInOne, startProcess, tracked, useE2eWorld, waitFor, writeTestConfig,
  type Api, type FailureFlag, type Proc,
} from '../support/processes.ts';

/** what a hostile task may not learn: the worker's own credentials, each with a marker we look for */
const SECRETS = {
  JWT_SECRET: 'jwt-marker-5f1e0c',
  API_KEYS: '{"apikey-marker-9b2d": ["Admin"]}',
  MY_SERVICE_TOKEN: 'token-marker-77aa',
  AWS_SECRET_ACCESS_KEY: 'aws-marker-3c3c',
  SOME_PASSWORD: 'password-marker-e4e4',
};
/** worker.output_limit_kb default: what a run keeps of its output */
const OUTPUT_LIMIT_BYTES = 256 * 1024;

/**
 * Host pids whose command line has this argument. Shell tasks run in a PID namespace of their own
 * (docs/task-isolation.md): the pids they see mean nothing here, so their processes carry a marker.
 */
function hostPidsWithArg(marker: string): number[] {
  return readdirSync('/proc').filter((entry) => /^\d+$/.test(entry)).filter((entry) => {
    try {
      return readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').includes(marker);
    } catch {
      return false;
    }
  }).map(Number);
}

/** the argument of every sleep the forker task starts */
const FORKER_MARKER = `1000.${process.pid}`;

/** VmRSS of a process in MB, from /proc */
function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : 0;
}

describe('hostile tasks against a real worker (postgres queue)', { skip: await skipUnless('postgres') }, () => {
  const flag: FailureFlag = { failed: false };
  const world = useE2eWorld(flag, {
    // should the worker fail to kill a task's processes, nothing may outlive the suite
    cleanup: () => {
      for (const pid of hostPidsWithArg(FORKER_MARKER)) {
        try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      }
    },
  });
  let client: Api;
  let worker: Proc;
  let httpTarget: Server;
  let targetUrl = '';
  const open = new Set<ServerResponse>();

  before(tracked(flag, async () => {
    // the http targets below listen on loopback, which http tasks may reach only when allowed (issue 13 item 8)
    const configFile = writeTestConfig(world.tmp.dir, uniqueNamespace('hostile'), { workerEnabled: false, extra: '[worker.http_egress]\nallow = ["127.0.0.1"]\n' });
    const env = backendEnv('postgres', world.db.url, SERVICE_URLS);
    const { proc: core, client: coreClient } = await startAllInOne(world, 'postgres', configFile, 'core');
    await core.waitForLine(/became the dispatcher leader/, 15_000);
    client = coreClient;
    worker = startProcess({
      name: 'worker',
      args: ['--mode', 'worker', '--worker-id', 'hostile-w', '--config', configFile],
      env: {
        ...env,
        ...SECRETS,
        MESSAGE_QUEUE_URL: 'redis://:broker-marker-1a1a@127.0.0.1:6379/0',
        WORKER_MAX_CONCURRENT_TASKS: '10',
      },
    });
    await worker.waitForLine(/worker started/, 20_000);

    httpTarget = createServer((request, response) => {
      open.add(response);
      response.on('close', () => open.delete(response));
      if (request.url === '/silent') return; // accepts, never answers
      if (request.url === '/to-loopback') return void response.writeHead(302, { location: 'http://127.0.0.2:9/' }).end();
      response.writeHead(200, { 'content-type': 'text/plain' });
      const drip = setInterval(() => response.write('.'), 100); // answers, one byte at a time, forever
      response.on('close', () => clearInterval(drip));
    });
    await new Promise<void>((resolve) => httpTarget.listen(0, '127.0.0.1', resolve));
    const address = httpTarget.address();
    targetUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  }));

  after(async () => {
    for (const response of open) response.destroy();
    await new Promise<void>((resolve) => (httpTarget ? httpTarget.close(() => resolve()) : resolve()));
  });

  async function runTask(body: Record<string, unknown>): Promise<string> {
    const created = await client.post('/api/tasks', body);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const triggered = await client.post(`/api/tasks/${created.body.id}/trigger`);
    assert.equal(triggered.status, 201, JSON.stringify(triggered.body));
    return triggered.body.id as string;
  }

  async function finished(runId: string, timeoutMs: number) {
    return waitFor(async () => {
      const { rows } = await world.sql.query(
        `SELECT status, error, output, exit_code, started_at, finished_at FROM hg_runs WHERE id = $1 AND status NOT IN ('pending', 'queued', 'running')`,
        [runId],
      );
      return rows[0];
    }, timeoutMs, 200, `run ${runId} to finish`);
  }

  it('runs hostile tasks side by side; the worker stays bounded and keeps serving others', tracked(flag, async (t) => {
    const baseline = rssMb(worker.pid);
    let peak = baseline;
    const sampler = setInterval(() => {
      if (!worker.exited) peak = Math.max(peak, rssMb(worker.pid));
    }, 50);
    try {
      // 2 GB of output: far past the cap, which must hold memory, not just the stored text
      const flood = await runTask({
        name: 'flood', type: 'shell', timeoutSeconds: 120,
        shell: { command: ['sh', '-c', 'head -c 2000000000 /dev/zero | tr "\\0" "x"'] },
      });
      // forks children (a grandchild, and one in a session of its own) that ignore SIGTERM, then waits:
      // the timeout must kill them all
      const m = FORKER_MARKER;
      const forker = await runTask({
        name: 'forker', type: 'shell', timeoutSeconds: 2,
        shell: { command: ['sh', '-c', `trap '' TERM; for i in 1 2 3; do sleep ${m} & done; sh -c 'sleep ${m} & wait' & setsid sh -c 'trap "" TERM; sleep ${m}' & wait`] },
      });
      const forked = await waitFor(() => (hostPidsWithArg(m).length >= 5 ? hostPidsWithArg(m) : undefined), 10_000, 50, 'the forker\'s five sleeps to start');
      const forever = await runTask({ name: 'forever', type: 'shell', timeoutSeconds: 2, shell: { command: ['sleep', '100000'] } });
      const silent = await runTask({ name: 'silent-target', type: 'http', timeoutSeconds: 2, http: { method: 'GET', url: `${targetUrl}/silent` } });
      const trickle = await runTask({ name: 'trickle-target', type: 'http', timeoutSeconds: 3, http: { method: 'GET', url: `${targetUrl}/trickle` } });

      // meanwhile, ordinary runs go through promptly
      const quick = await client.post('/api/tasks', { name: 'quick', type: 'noop', params: {} });
      for (let i = 0; i < 5; i++) {
        const started = Date.now();
        const res = await client.post(`/api/tasks/${quick.body.id}/trigger`);
        assert.equal(res.status, 201);
        const run = await finished(res.body.id, 10_000);
        assert.equal(run.status, 'succeeded', JSON.stringify(run));
        assert.ok(Date.now() - started < 5000, `an ordinary run took ${Date.now() - started} ms next to the hostile ones`);
      }

      const foreverRun = await finished(forever, 15_000);
      assert.equal(foreverRun.status, 'timed_out', JSON.stringify(foreverRun));
      assert.match(foreverRun.error, /timed out after 2s/);

      const silentRun = await finished(silent, 15_000);
      assert.equal(silentRun.status, 'timed_out', JSON.stringify(silentRun));
      const trickleRun = await finished(trickle, 15_000);
      assert.equal(trickleRun.status, 'timed_out', JSON.stringify(trickleRun));
      assert.match(trickleRun.output, /^\.+/, 'what trickled in is kept');

      // SIGTERM is ignored, so the group gets SIGKILL after the grace period (5 s)
      const forkerRun = await finished(forker, 20_000);
      assert.equal(forkerRun.status, 'timed_out', JSON.stringify(forkerRun));
      assert.ok(forked.length >= 5, `expected 3 children, a grandchild and a setsid child, got ${forked.length}`);
      await waitFor(() => hostPidsWithArg(m).length === 0, 3000, 100, 'every process of the task to be gone').catch(() => {
        assert.fail(`still alive after the timeout: ${hostPidsWithArg(m).join(', ')}`);
      });

      const floodRun = await finished(flood, 120_000);
      assert.equal(floodRun.status, 'succeeded', JSON.stringify({ ...floodRun, output: floodRun.output?.slice(-200) }));
      assert.match(floodRun.output, /\[output truncated: \d+ bytes dropped\]$/);
      assert.ok(floodRun.output.length <= OUTPUT_LIMIT_BYTES + 100, `stored output is ${floodRun.output.length} characters`);
      assert.ok(!worker.exited, 'the worker died');
    } finally {
      clearInterval(sampler);
    }
    t.diagnostic(`worker RSS ${baseline.toFixed(0)} MB before, ${peak.toFixed(0)} MB at peak while a task printed 2 GB`);
    assert.ok(peak - baseline < 150, `worker RSS grew from ${baseline.toFixed(0)} MB to ${peak.toFixed(0)} MB while a task printed 2 GB`);
  }));

  it('a shell task cannot read the worker\'s database, broker, JWT or other secrets from its environment', tracked(flag, async () => {
    // its own environment, its parent's (the worker's, issue 13 item 1), and every process's it can see
    const snoop = 'env; tr "\\0" "\\n" < /proc/$$/environ; tr "\\0" "\\n" < /proc/$PPID/environ; for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do tr "\\0" "\\n" < "$f"; done; true';
    const runId = await runTask({ name: 'snoop', type: 'shell', shell: { command: ['sh', '-c', snoop] } });
    const run = await finished(runId, 15_000);
    assert.equal(run.status, 'succeeded', JSON.stringify(run));
    const output = run.output as string;
    assert.match(output, /HOURGLASS_RUN_ID=/, 'the task did print its environment');
    const leaked = [
      ...Object.values(SECRETS),
      'apikey-marker-9b2d',
      'broker-marker-1a1a',
      new URL(world.db.url).pathname.slice(1), // the test database's name is in DATABASE_URL
    ].filter((marker) => output.includes(marker));
    assert.deepEqual(leaked, [], 'secret values visible to the task');
    for (const name of ['DATABASE_URL', 'MESSAGE_QUEUE_URL', 'JWT_SECRET', 'API_KEYS', 'MY_SERVICE_TOKEN', 'AWS_SECRET_ACCESS_KEY', 'SOME_PASSWORD']) {
      assert.doesNotMatch(output, new RegExp(`^${name}=`, 'm'), `${name} is in the task's environment`);
    }
  }));

  it('an http task cannot reach cloud metadata or, through a redirect, loopback the config does not allow (issue 13 item 8)', tracked(flag, async () => {
    const metadata = await runTask({ name: 'metadata', type: 'http', http: { method: 'GET', url: 'http://169.254.169.254/latest/meta-data/' }, retry: { limit: 2 } });
    const redirected = await runTask({ name: 'redirected', type: 'http', http: { method: 'GET', url: `${targetUrl}/to-loopback` } });
    const metadataRun = await finished(metadata, 15_000);
    assert.equal(metadataRun.status, 'failed');
    assert.match(metadataRun.error, /refused: egress to 169\.254\.169\.254 \(link-local \(cloud metadata\)\) is not allowed/);
    const redirectedRun = await finished(redirected, 15_000);
    assert.equal(redirectedRun.status, 'failed');
    assert.match(redirectedRun.error, /egress to 127\.0\.0\.2 \(loopback\) is not allowed/);
    // the policy answers the same every time: no retry
    const { rows } = await world.sql.query(`SELECT count(*)::int AS n FROM hg_runs r JOIN hg_tasks t ON t.id = r.task_id WHERE t.name = 'metadata'`);
    assert.equal(rows[0].n, 1);
  }));
});
