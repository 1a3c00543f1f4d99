import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Dispatcher } from '../../core/dispatch/dispatcher.ts';
import { createTaskFromInput, deleteTaskByRef, replaceTaskFromInput } from '../../core/dispatch/tasks.ts';
import { jitterMs } from '../../core/schedule/index.ts';
import type { Db } from '../../core/store/index.ts';
import { coreOnTestDatabase, runsOf } from '../support/core.ts';
import { skipUnless } from '../support/services.ts';

/**
 * dispatcher.fire_lead_ms on real Postgres: a fire of a preparable task (concurrencyPolicy Allow, no dependsOn)
 * is written that long ahead and committed at its time. What a user may rely on: its run is never visible
 * (so never started) before its time; an edit, suspension or deletion that comes inside the window waits for
 * the commit and applies from the next slot; a prepared write that dies is written again, once.
 */
const skip = await skipUnless('postgres');
const LEAD_MS = 600;
const EVERY_SECOND = '* * * * * *';

describe('fires prepared ahead and committed at their time (dispatcher.fire_lead_ms)', { skip }, () => {
  let env: Awaited<ReturnType<typeof coreOnTestDatabase>>;
  let dispatcher: Dispatcher;
  before(async () => {
    env = await coreOnTestDatabase();
    dispatcher = new Dispatcher(env.ctx, { syncIntervalMs: 60_000, maxBatch: 1000, fireLeadMs: LEAD_MS });
    await dispatcher.start();
  });
  after(async () => {
    await dispatcher?.stop();
    await env?.close();
  });

  const task = (name: string, extra: Record<string, unknown> = {}) =>
    createTaskFromInput(env.ctx, { name, type: 'noop', params: { v: 1 }, schedule: EVERY_SECOND, catchUp: 'None', ...extra });

  it('makes a run visible at its time and not before, with its task locked from the lead on; a Forbid task and a dependant are written at their time', async () => {
    const allow = await task('lead-allow');
    const forbid = await task('lead-forbid', { concurrencyPolicy: 'Forbid' });
    const dependant = await task('lead-dependant', { dependsOn: ['lead-allow'] });
    const slot = await nextSlot();
    const seen = { allowLocked: 0, forbidLocked: 0, dependantLocked: 0, earlyRows: 0, probes: 0 };
    await probeWindow(slot, async () => {
      seen.probes += 1;
      if (await locked(env.db, allow.id)) seen.allowLocked += 1;
      if (await locked(env.db, forbid.id)) seen.forbidLocked += 1;
      if (await locked(env.db, dependant.id)) seen.dependantLocked += 1;
      seen.earlyRows += await visibleBeforeItsTime(env.db, allow.id, slot);
    });
    assert.ok(seen.probes >= 5, `probed the window ${seen.probes} times`);
    assert.ok(seen.allowLocked > 0, `the Allow task's fire was prepared inside the window (${JSON.stringify(seen)})`);
    assert.equal(seen.earlyRows, 0, 'no run of the slot was visible before its time');
    assert.equal(seen.forbidLocked, 0, 'a Forbid task is not prepared ahead: its policy is decided at its time');
    assert.equal(seen.dependantLocked, 0, 'a task with dependsOn is not prepared ahead: its upstream is read at its time');
    await until(async () => (await runsAt(env.db, allow.id, slot)).length === 1 && (await runsAt(env.db, forbid.id, slot)).length === 1);
    assert.deepEqual((await runsAt(env.db, allow.id, slot)).map((r) => r.status), ['queued']);
  });

  it('lets an edit made inside the window wait for the commit: the prepared slot runs the old spec, the next slot the new', async () => {
    const edited = await task('lead-edit');
    const slot = await nextSlot();
    await waitLocked(edited.id, slot);
    await replaceTaskFromInput(env.ctx, 'lead-edit', { name: 'lead-edit', type: 'noop', params: { v: 2 }, schedule: EVERY_SECOND, catchUp: 'None' });
    const editDone = await dbNow(env.db);
    assert.ok(editDone >= slot, `the edit committed after the prepared fire (${editDone - slot} ms after its time)`);
    await until(async () => (await runsAt(env.db, edited.id, slot + 1000)).length === 1);
    assert.deepEqual((await runsAt(env.db, edited.id, slot)).map((r) => r.params), [{ v: 1 }], 'the prepared slot runs the spec it was prepared with');
    assert.deepEqual((await runsAt(env.db, edited.id, slot + 1000)).map((r) => r.params), [{ v: 2 }], 'the next slot runs the edited spec');
  });

  it('lets a suspension or a deletion inside the window apply from the next slot: no run after it', async () => {
    const suspended = await task('lead-suspend');
    const deleted = await task('lead-delete');
    const slot = await nextSlot();
    await waitLocked(suspended.id, slot);
    await Promise.all([
      replaceTaskFromInput(env.ctx, 'lead-suspend', { name: 'lead-suspend', type: 'noop', params: { v: 1 }, schedule: EVERY_SECOND, catchUp: 'None', suspend: true }),
      deleteTaskByRef(env.ctx, 'lead-delete'),
    ]);
    // two more slots pass: neither task may fire again
    await sleepUntil(slot + 2500);
    for (const id of [suspended.id, deleted.id]) {
      const later = (await runsOf(env.db, id)).filter((r) => r.scheduled_time.getTime() > slot && r.status !== 'cancelled');
      assert.deepEqual(later, [], 'no fire after the suspension or deletion committed');
    }
    assert.equal((await runsAt(env.db, suspended.id, slot)).length, 1, 'the slot prepared before the suspension fired');
  });

  it('writes a prepared fire again, once, when its transaction dies before its time', async () => {
    const victim = await task('lead-victim');
    const slot = await nextSlot();
    await waitLocked(victim.id, slot);
    // the server ends the session that holds the prepared write, as it does a client gone silent
    const { rows } = await env.db.query<{ n: number }>(
      `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
        WHERE c.relname = 'hg_tasks' AND l.pid <> pg_backend_pid() AND l.granted AND l.mode IN ('RowShareLock', 'RowExclusiveLock')`,
    );
    assert.ok((rows[0]?.n ?? 0) >= 1, 'the prepared write held the task');
    await until(async () => (await runsAt(env.db, victim.id, slot)).length === 1, 5000);
    await sleepUntil(slot + 2500);
    const slots = (await runsOf(env.db, victim.id)).map((r) => r.scheduled_time.getTime());
    assert.equal(new Set(slots).size, slots.length, 'no slot written twice');
    assert.ok(slots.includes(slot + 1000) || slots.includes(slot + 2000), 'fires go on after the failed write');
  });

  it('writes the fires of a time at that time when a fire written at its time comes due in their lead, so it never waits behind them', async () => {
    const allow = await task('lead-mixed-allow');
    const forbid = await task('lead-mixed-forbid', { concurrencyPolicy: 'Forbid', jitterSeconds: 1 });
    // a second T whose Forbid fire (the previous second's, jittered) comes due inside the lead of T's fires
    let at = await nextSlot();
    while (!(jitterMs(forbid.id, at - 1000, 1) > 700 && jitterMs(forbid.id, at - 1000, 1) < 950)) at += 1000;
    const forbidDue = at - 1000 + jitterMs(forbid.id, at - 1000, 1);
    let probes = 0;
    let lockedBeforeForbid = 0;
    await sleepUntil(at - LEAD_MS + 50);
    while (Date.now() < forbidDue - 30) {
      probes += 1;
      if (await locked(env.db, allow.id)) lockedBeforeForbid += 1;
    }
    assert.ok(probes >= 3, `probed ${probes} times before the Forbid fire at ${forbidDue - at} ms`);
    assert.equal(lockedBeforeForbid, 0, 'T\'s fires were not prepared while a fire at its time was due before T');
    await until(async () => (await runsAt(env.db, allow.id, at)).length === 1 && (await runsAt(env.db, forbid.id, at - 1000)).length === 1);
    await deleteTaskByRef(env.ctx, 'lead-mixed-forbid');
    await deleteTaskByRef(env.ctx, 'lead-mixed-allow');
  });

  /** the next whole second far enough ahead that its whole lead window is still to come */
  async function nextSlot(): Promise<number> {
    return Math.ceil((Date.now() + LEAD_MS + 300) / 1000) * 1000;
  }

  /** waits until the task's fire of `slot` is prepared (its row locked), inside the window */
  async function waitLocked(taskId: string, slot: number): Promise<void> {
    await sleepUntil(slot - LEAD_MS);
    while (!(await locked(env.db, taskId))) {
      assert.ok(Date.now() < slot - 20, 'the fire was prepared inside its window');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
});

/** runs `probe` over and over from inside the lead window to just before `slot` */
async function probeWindow(slot: number, probe: () => Promise<void>): Promise<void> {
  await sleepUntil(slot - LEAD_MS + 100);
  while (Date.now() < slot - 40) await probe();
}

/** true when another transaction holds the task's row: a fire prepared ahead holds it until it commits */
async function locked(db: Db, taskId: string): Promise<boolean> {
  try {
    await db.transaction((tx) => tx.query('SELECT 1 FROM hg_tasks WHERE id = $1 FOR UPDATE NOWAIT', [taskId]));
    return false;
  } catch (error) {
    if ((error as { code?: string }).code === '55P03') return true;
    throw error;
  }
}

/** runs of the slot visible while the database's own clock is still before it */
async function visibleBeforeItsTime(db: Db, taskId: string, slot: number): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM hg_runs WHERE task_id = $1 AND scheduled_time = $2 AND clock_timestamp() < $2`,
    [taskId, new Date(slot)],
  );
  return rows[0]?.n ?? 0;
}

async function runsAt(db: Db, taskId: string, slot: number) {
  const { rows } = await db.query<{ status: string; params: unknown }>(
    `SELECT r.status, s.spec -> 'params' AS params
       FROM hg_runs r LEFT JOIN hg_run_specs s ON s.digest = r.spec_digest WHERE r.task_id = $1 AND r.scheduled_time = $2`,
    [taskId, new Date(slot)],
  );
  return rows;
}

async function dbNow(db: Db): Promise<number> {
  const { rows } = await db.query<{ now: Date }>('SELECT clock_timestamp() AS now');
  return (rows[0] as { now: Date }).now.getTime();
}

async function sleepUntil(ms: number): Promise<void> {
  const wait = ms - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

async function until(check: () => Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    assert.ok(Date.now() < deadline, 'condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
