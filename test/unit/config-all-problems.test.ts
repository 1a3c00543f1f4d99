import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../../core/config/index.ts';
import { problemsOf } from '../support/validation.ts';

const MINIMAL = path.resolve(import.meta.dirname, '../fixtures/config/minimal');

/** One answer names every problem: a fix-and-rerun loop per key is what `config validate` must spare people. */
describe('loadConfig reports every problem at once', () => {
  it('an unknown key, a type error, an unset variable and a rule spanning keys, together', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'hg-config-all-'));
    const file = path.join(dir, 'extra.toml');
    writeFileSync(file, [
      '[worker]',
      'max_concurent_tasks = 3',
      'heartbeat_interval_seconds = "soon"',
      '[database]',
      'min_connections = 9',
      'max_connections = 2',
      '[message_queue]',
      'url = "${NOT_SET_ANYWHERE}"',
      '',
    ].join('\n'));
    const problems = problemsOf(() => loadConfig({ configDir: MINIMAL, env: {}, extraFiles: [file] }));
    const paths = problems.map((p) => p.path).sort();
    assert.deepEqual(paths, ['database.min_connections', 'database.pool.min_connections', 'message_queue.url', 'worker.heartbeat_interval_seconds', 'worker.max_concurent_tasks'], JSON.stringify(problems, null, 2));
    assert.equal(new Set(problems.map((p) => p.path)).size, problems.length, 'each key is named once');
  });
});
