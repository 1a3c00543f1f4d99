/**
 * Issue 15: a run names the spec it runs by digest (hg_run_specs, migration 0010) instead of carrying a
 * copy, so its row stays narrow through every change of status. Equal specs share one row; an edit adds one.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRuns } from '../../core/dispatch/enqueue.ts';
import { createTaskFromInput, replaceTaskFromInput } from '../../core/dispatch/tasks.ts';
import { coreOnTestDatabase, postgresConsumer } from '../support/core.ts';
import { skipUnless } from '../support/services.ts';

describe('run specs', { skip: await skipUnless('postgres') }, () => {
  let env: Awaited<ReturnType<typeof coreOnTestDatabase>>;
  before(async () => (env = await coreOnTestDatabase()));
  after(async () => env?.close());

  it('stores one spec row per distinct spec, not one copy per run, and each run still runs its own', async () => {
    const body = { name: 'specs', type: 'shell', shell: { command: ['echo', 'first'] }, concurrencyPolicy: 'Allow' };
    const first = await createTaskFromInput(env.ctx, body);
    await createRuns(env.ctx, Array.from({ length: 50 }, (_, i) => ({ task: first, scheduledTime: new Date(Date.UTC(2002, 0, 1) + i), trigger: 'manual' as const })));
    const edited = await replaceTaskFromInput(env.ctx, 'specs', { ...body, shell: { command: ['echo', 'second'] } });
    await createRuns(env.ctx, Array.from({ length: 50 }, (_, i) => ({ task: edited, scheduledTime: new Date(Date.UTC(2003, 0, 1) + i), trigger: 'manual' as const })));

    const { rows: specs } = await env.db.query<{ n: number }>('SELECT count(*)::int AS n FROM hg_run_specs');
    assert.equal(specs[0]?.n, 2, 'two distinct specs, two rows');
    const { rows: runs } = await env.db.query<{ inline: number; named: number; width: number }>(
      `SELECT count(*) FILTER (WHERE spec IS NOT NULL)::int AS inline, count(*) FILTER (WHERE spec_digest IS NOT NULL)::int AS named,
              max(pg_column_size(r.*))::int AS width FROM hg_runs r`,
    );
    assert.deepEqual({ inline: runs[0]?.inline, named: runs[0]?.named }, { inline: 0, named: 100 });
    assert.ok((runs[0]?.width ?? Infinity) < 300, `a run row is ${runs[0]?.width} bytes: no spec inside`);

    const consumer = postgresConsumer(env.ctx, 'spec-worker');
    const taken = await consumer.receive('default', { max: 100, waitMs: 0 });
    await consumer.close();
    const commands = new Map<string, number>();
    for (const delivery of taken) {
      const command = JSON.stringify((delivery.message.spec.shell as { command?: string[] } | undefined)?.command);
      commands.set(command, (commands.get(command) ?? 0) + 1);
    }
    assert.deepEqual(Object.fromEntries(commands), { '["echo","first"]': 50, '["echo","second"]': 50 });
  });
});
