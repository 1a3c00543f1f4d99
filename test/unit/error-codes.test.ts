import { it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

it('documents every error code the source uses in docs/errors.md', () => {
  const used = new Set(
    execFileSync('git', ['grep', '--untracked', '-hoE', 'HG_ERR_[A-Z0-9_]+', '--', 'core', 'api', 'worker', 'cli'], { cwd: ROOT, encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      // HG_ERR_HTTP_ is a family: HG_ERR_HTTP_<status>
      .map((code) => (code === 'HG_ERR_HTTP_' ? 'HG_ERR_HTTP_<status>' : code)),
  );
  const documented = readFileSync(path.join(ROOT, 'docs/errors.md'), 'utf8');
  assert.ok(used.size >= 10, `found ${used.size} codes`);
  assert.deepEqual([...used].filter((code) => !documented.includes(`\`${code}\``)), []);
});
