/**
 * The dead letters listed are the newest, newest first, by id as a number: ordered by the text of the id,
 * letter 99 came before letter 105 and the newest of a hundred and more were left off the list.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Db } from '../../core/store/db.ts';
import { insertDeadLetters, listDeadLetters } from '../../core/store/dead-letters.ts';
import { migratedTestDatabase } from '../support/core.ts';
import { skipUnless } from '../support/services.ts';

describe('dead letters', { skip: await skipUnless('postgres') }, () => {
  let testDb: Awaited<ReturnType<typeof migratedTestDatabase>>;
  let db: Db;
  before(async () => {
    testDb = await migratedTestDatabase(1);
    db = testDb.db;
  });
  after(async () => {
    await testDb?.close();
  });

  it('lists the newest first, numerically, past the ids of more digits', async () => {
    // one at a time, so that the ids follow the order of the reasons
    for (let i = 1; i <= 105; i++) await insertDeadLetters(db, [{ source: 'status', kind: 'malformed', reason: `letter ${i}`, payload: '{}' }], new Date());
    const listed = await listDeadLetters(db, 10);
    assert.deepEqual(
      listed.map((l) => l.reason),
      Array.from({ length: 10 }, (_, i) => `letter ${105 - i}`),
    );
  });
});
