import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dumpIfFailed, freePort, killAll, startProcess, tempDir, tracked, waitFor, type FailureFlag, type Proc } from '../support/processes.ts';
import { cliFor, json, show } from './cli-support.ts';

/**
 * `npm start` as a newcomer runs it: every part in one process on the embedded database (PGlite), no
 * service needed, JSON logs. What the README promises must hold there too.
 */
describe('scheduler --mode all on the embedded database (npm start)', () => {
  const flag: FailureFlag = { failed: false };
  const tmp = tempDir('hg-embedded-');
  let proc: Proc;
  let url: string;

  before(tracked(flag, async () => {
    const port = await freePort();
    proc = startProcess({
      name: 'embedded',
      args: ['--mode', 'all', '--data-dir', path.join(tmp.dir, 'data')],
      env: { DATABASE_URL: undefined, MESSAGE_QUEUE_TYPE: undefined, MESSAGE_QUEUE_URL: undefined, API_KEYS: undefined, API_BIND_ADDRESS: `127.0.0.1:${port}`, LOG_FORMAT: 'json' },
    });
    await proc.waitForLine(/API listening/, 60_000);
    url = `http://127.0.0.1:${port}`;
  }));
  after(async () => {
    dumpIfFailed(flag.failed);
    await killAll();
    tmp.remove();
  });

  it('health/detailed is 200 once the in-process dispatcher leads (PGlite has no pg_locks), and system health prints it', tracked(flag, async () => {
    await proc.waitForLine(/became the dispatcher leader/, 30_000);
    let last: unknown;
    const health = await waitFor(async () => {
      const response = await fetch(`${url}/api/system/health/detailed`);
      last = await response.json();
      return response.status === 200 ? last : undefined;
    }, 20_000, 200, 'a healthy system').catch((error: Error) => assert.fail(`${error.message}; last body: ${JSON.stringify(last)}`));
    const { components } = health as { components: Record<string, { ok: boolean; detail: { leaderElected?: boolean; thisProcess?: boolean } }> };
    assert.equal(components.dispatcher?.ok, true);
    assert.deepEqual(components.dispatcher?.detail, { leaderElected: true, firePartitionsHeld: 64, firePartitions: 64, thisProcess: true });

    const result = await cliFor(url)(['system', 'health', '-o', 'json']);
    assert.equal(result.code, 0, show(result));
    assert.equal(json(result).status, 'ok');
  }));

  it('JSON log lines carry each key once (no "mode" twice on the start lines)', tracked(flag, async () => {
    const lines = proc.lines.filter((l) => l.includes('{"level"')).map((l) => l.slice(l.indexOf('{')));
    assert.ok(lines.some((l) => l.includes('"msg":"starting"')), `no starting line in:\n${lines.join('\n')}`);
    for (const line of lines) {
      const modes = line.match(/"mode":/g) ?? [];
      assert.ok(modes.length <= 1, `"mode" ${modes.length} times in ${line}`);
    }
  }));
});
