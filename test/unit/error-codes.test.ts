import { it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES, errorInfo } from '../../core/model/index.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const FAMILY = 'HG_ERR_HTTP_<status>';

/** Codes the source uses (the error table itself excluded: listing a code is not using it). */
function usedCodes(): Set<string> {
  const out = execFileSync('git', ['grep', '--untracked', '-hoE', 'HG_ERR_[A-Z0-9_]+', '--', 'core', 'api', 'worker', 'cli', 'operator', ':!core/model/error-codes.ts'], { cwd: ROOT, encoding: 'utf8' });
  // HG_ERR_HTTP_ is a family: HG_ERR_HTTP_<status>
  return new Set(out.split('\n').filter(Boolean).map((code) => (code === 'HG_ERR_HTTP_' ? FAMILY : code)));
}

/** The rows of docs/errors.md: code -> { status, retryable }. */
function documentedCodes(): Map<string, { status: string; retryable: string }> {
  const rows = new Map<string, { status: string; retryable: string }>();
  for (const match of readFileSync(path.join(ROOT, 'docs/errors.md'), 'utf8').matchAll(/^\| `(HG_ERR_[A-Za-z0-9_<>]+)` \| ([^|]+) \| ([^|]+) \|/gm)) {
    rows.set(match[1] as string, { status: (match[2] as string).trim(), retryable: (match[3] as string).trim() });
  }
  return rows;
}

it('every code the source uses is in the error table and documented with its status and retryable', () => {
  const used = usedCodes();
  const documented = documentedCodes();
  assert.ok(used.size >= 20, `found ${used.size} codes`);
  assert.deepEqual([...used].filter((code) => code !== FAMILY && !errorInfo(code)), [], 'used but not in core/model/error-codes.ts');
  assert.deepEqual([...used].filter((code) => !documented.has(code)), [], 'used but not in docs/errors.md');
  for (const [code, info] of Object.entries(ERROR_CODES)) {
    const row = documented.get(code);
    assert.ok(row, `${code} is in the table but not in docs/errors.md`);
    assert.equal(row.status, String(info.status), `${code}: status in docs/errors.md`);
    assert.equal(row.retryable, info.retryable ? 'yes' : 'no', `${code}: retryable in docs/errors.md`);
  }
});

it('every documented code is in the error table and used somewhere', () => {
  const used = usedCodes();
  for (const code of documentedCodes().keys()) {
    if (code === FAMILY) continue;
    assert.ok(Object.hasOwn(ERROR_CODES, code), `${code} is documented but not in core/model/error-codes.ts`);
    assert.ok(used.has(code), `${code} is documented but nothing uses it`);
  }
  assert.deepEqual(errorInfo('HG_ERR_HTTP_503'), { status: 503, title: 'HTTP 503', retryable: true });
  assert.equal(errorInfo('HG_ERR_NOT_A_CODE'), undefined);
});
