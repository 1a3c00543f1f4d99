import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { DataDirLockedError, LOCK_FILE, lockDataDir } from '../../core/store/data-dir-lock.ts';
import { openPgliteDb } from '../../core/store/pglite-db.ts';
import { startProcess, tempDir } from '../support/processes.ts';

// issue 13 item 13: a second `npm start` on the same embedded data directory came up, became a second
// dispatcher leader and ran the same tasks. It must refuse, naming the process that holds the directory.

describe('the embedded data directory', () => {
  const tmp = tempDir('hg-datadir-');
  after(() => tmp.remove());

  it('is created readable by its owner only', async () => {
    const dir = path.join(tmp.dir, 'private', 'data');
    const db = await openPgliteDb(dir);
    await db.close();
    for (const made of [dir, path.dirname(dir)]) assert.equal(statSync(made).mode & 0o077, 0, `${made} is open to others: ${(statSync(made).mode & 0o777).toString(8)}`);
  });

  it('refuses a second scheduler process on the same directory, naming the holder\'s pid', async () => {
    const dir = path.join(tmp.dir, 'data');
    const db = await openPgliteDb(dir);
    try {
      assert.deepEqual(JSON.parse(readFileSync(path.join(dir, LOCK_FILE), 'utf8')).pid, process.pid);
      const second = startProcess({
        name: 'second-scheduler',
        args: ['--mode', 'all', '--data-dir', dir],
        env: { API_BIND_ADDRESS: '127.0.0.1:0', METRICS_BIND_ADDRESS: '', DATABASE_URL: '', LOG_FORMAT: 'json' },
      });
      const { code } = await second.waitForExit(60_000);
      const output = second.lines.join('\n');
      assert.notEqual(code, 0, `the second process must not run: ${output.slice(-2000)}`);
      assert.match(output, new RegExp(`in use by process ${process.pid}\\b`), output.slice(-2000));
      const count = await db.query<{ n: number }>('SELECT 1 AS n');
      assert.equal(count.rows[0]?.n, 1, 'the first one still works');
    } finally {
      await db.close();
    }
    assert.ok(!existsSync(path.join(dir, LOCK_FILE)), 'closing releases the lock');
    const again = await openPgliteDb(dir);
    await again.close();
  });

  it('takes over the lock of a holder that is gone, and refuses a live one in-process too', () => {
    const dir = tmp.dir;
    // a pid that is certainly not running: beyond pid_max
    writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ pid: 2 ** 30, host: hostname() }));
    const lock = lockDataDir(dir);
    assert.throws(() => lockDataDir(dir, process.ppid), (error: unknown) => error instanceof DataDirLockedError && error.holderPid === process.pid);
    lock.release();
    assert.ok(!existsSync(path.join(dir, LOCK_FILE)));
  });
});
