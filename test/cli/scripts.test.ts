import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { skipUnless } from '../support/services.ts';
import { REPO_ROOT, freePort, tracked, useE2eWorld, type FailureFlag } from '../support/processes.ts';
import { SCHEDULER_BIN, runBin, show, type CliResult } from './cli-support.ts';

function script(name: string, args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  const merged: Record<string, string> = {};
  for (const [key, value] of Object.entries({ ...process.env, ...env })) if (value !== undefined) merged[key] = value;
  return new Promise((resolve) => {
    const child = execFile('bash', [path.join(REPO_ROOT, 'scripts', name), ...args], { env: merged, cwd: REPO_ROOT, timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end();
  });
}

describe('scripts/backup.sh, restore.sh and wait-for-db.sh on a scratch database', { skip: await skipUnless('postgres') }, () => {
  const flag: FailureFlag = { failed: false };
  const world = useE2eWorld(flag);

  it('wait-for-db.sh: ready at once for a live database; times out with the reason otherwise', tracked(flag, async () => {
    const ready = await script('wait-for-db.sh', ['--timeout', '10', world.db.url]);
    assert.equal(ready.code, 0, show(ready));
    const missing = await script('wait-for-db.sh', ['-t', '2', world.db.url.replace(/\/[^/]+$/, '/hg_no_such_database')]);
    assert.equal(missing.code, 1, show(missing));
    assert.match(missing.stderr, /not ready after 2s: .*does not exist/);
    const started = Date.now();
    const closed = await script('wait-for-db.sh', ['-t', '2', '-i', '1'], { DATABASE_URL: `postgresql://postgres:hunter2@127.0.0.1:${await freePort()}/x` });
    assert.equal(closed.code, 1, show(closed));
    assert.ok(Date.now() - started < 15_000, 'the timeout is honoured');
    assert.doesNotMatch(closed.stderr, /hunter2/, 'the password is never printed');
    assert.equal((await script('wait-for-db.sh', ['--timeout', 'soon'])).code, 2);
  }));

  it('backup.sh writes dated files and applies the retention; restore.sh brings the data back in one transaction', tracked(flag, async () => {
    const migrated = await runBin(SCHEDULER_BIN, ['migrate', 'run'], { env: { DATABASE_URL: world.db.url, ENVIRONMENT: 'development' } });
    assert.equal(migrated.code, 0, show(migrated));
    await world.sql.query(`INSERT INTO hg_tasks (id, name, spec) VALUES (gen_random_uuid(), 'keep-me', '{"type":"shell"}')`);
    const dir = path.join(world.tmp.dir, 'backups');
    mkdirSync(dir);
    // an old backup beyond the retention, and an unrelated old file the retention must not touch
    const stale = path.join(dir, 'db_20200101_000000.sql');
    const unrelated = path.join(dir, 'notes.txt');
    for (const file of [stale, unrelated]) {
      writeFileSync(file, '-- old\n');
      const old = new Date(Date.now() - 40 * 86_400_000);
      utimesSync(file, old, old);
    }
    const backup = await script('backup.sh', ['--dir', dir, '--retention-days', '30', '--config-dir', path.join(REPO_ROOT, 'config')], { DATABASE_URL: world.db.url });
    assert.equal(backup.code, 0, show(backup));
    const files = readdirSync(dir).sort();
    assert.equal(files.filter((f) => /^db_\d{8}_\d{6}\.sql$/.test(f)).length, 1, files.join(','));
    assert.equal(files.filter((f) => /^config_\d{8}_\d{6}\.tar\.gz$/.test(f)).length, 1, files.join(','));
    assert.ok(!files.includes('db_20200101_000000.sql'), 'the backup older than the retention is gone');
    assert.ok(files.includes('notes.txt'), 'files that are not backups are left alone');
    assert.match(backup.stdout, /deleted 1 backups older than 30 days/);

    await world.sql.query(`DELETE FROM hg_tasks`);
    await world.sql.query(`INSERT INTO hg_tasks (id, name, spec) VALUES (gen_random_uuid(), 'after-backup', '{}')`);
    const unconfirmed = await script('restore.sh', ['--latest', '--dir', dir], { DATABASE_URL: world.db.url });
    assert.equal(unconfirmed.code, 2, `replacing data needs --yes: ${show(unconfirmed)}`);
    const restored = await script('restore.sh', ['--latest', '--dir', dir, '--yes'], { DATABASE_URL: world.db.url });
    assert.equal(restored.code, 0, show(restored));
    assert.match(restored.stdout, /done: 1 tasks, 0 runs/);
    const { rows } = await world.sql.query<{ name: string }>('SELECT name FROM hg_tasks');
    assert.deepEqual(rows.map((r) => r.name), ['keep-me']);

    // a broken file changes nothing: the restore is one transaction
    const broken = path.join(dir, 'db_29990101_000000.sql');
    writeFileSync(broken, 'DELETE FROM hg_tasks;\nTHIS IS NOT SQL;\n');
    const failed = await script('restore.sh', [broken, '--yes'], { DATABASE_URL: world.db.url });
    assert.notEqual(failed.code, 0, show(failed));
    assert.equal((await world.sql.query('SELECT 1 FROM hg_tasks')).rowCount, 1, 'the failed restore rolled back');
  }));
});
