/**
 * The status tests of core/store/status-test.ts spell the model's statuses into SQL, and the history's list
 * indexes (migration 0014) and hg_runs_active (0001) carry the same lists as their predicates: a status
 * added to the model, or one moved between active and finished, must change all of them together.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ACTIVE_STATUSES, RUN_STATUSES, TERMINAL_STATUSES } from '../../core/model/index.ts';
import { ACTIVE, FINISHED, isActive, isFinished, statusAmong } from '../../core/store/status-test.ts';

const migration = (file: string) => readFileSync(new URL(`../../core/store/migrations/${file}`, import.meta.url), 'utf8');
const predicateList = (sql: string) => sql.slice(sql.indexOf('status IN (') + 'status IN ('.length, sql.indexOf(')', sql.indexOf('status IN (')));

describe('status tests in SQL', () => {
  it('splits the model statuses into active and finished, each status in exactly one', () => {
    assert.deepEqual(new Set(ACTIVE), ACTIVE_STATUSES);
    assert.deepEqual(new Set(FINISHED), TERMINAL_STATUSES);
    assert.deepEqual([...ACTIVE, ...FINISHED].sort(), [...RUN_STATUSES].sort());
  });

  it('spells finished as the predicate of each history index of migration 0014', () => {
    const sql = migration('0014_history_indexes.sql');
    const creates = sql.split('\n').join(' ').split('CREATE INDEX').slice(1);
    assert.deepEqual(creates.map((create) => create.trim().split(' ')[0]), ['hg_runs_status_id', 'hg_runs_pool_id', 'hg_runs_scheduled']);
    for (const create of creates) assert.equal(`r.status IN (${predicateList(create)})`, isFinished('r'));
  });

  it('spells active as the predicate of hg_runs_active', () => {
    const line = migration('0001_init.sql').split('\n').find((l) => l.startsWith('CREATE INDEX hg_runs_active'));
    assert.ok(line);
    assert.equal(`r.status IN (${predicateList(line)})`, isActive('r'));
  });

  it('writes statusAmong as NOT IN, which can prove neither predicate', () => {
    assert.equal(statusAmong('r', [...FINISHED]), `r.status NOT IN (${ACTIVE.map((s) => `'${s}'`).join(', ')})`);
  });
});
