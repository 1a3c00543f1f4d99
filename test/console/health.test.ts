import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Task } from '../../console/src/api/client.ts';
import { period, taskHealth } from '../../console/src/lib/health.ts';

const NOW = Date.parse('2026-06-01T12:00:00Z');
const HOUR = 3_600_000;

function task(fields: Partial<Task>): Task {
  return { schedule: '0 * * * *', timeZone: 'UTC', suspend: false, createdAt: new Date(NOW - 10 * HOUR).toISOString(), lastRun: null, ...fields } as Task;
}
const ranAt = (ms: number) => ({ scheduledTime: new Date(ms).toISOString() }) as NonNullable<Task['lastRun']>;

describe('late / silent indicator', () => {
  it('reads the period of cron, macro and @every schedules', () => {
    assert.equal(period('0 * * * *', 'UTC'), HOUR);
    assert.equal(period('@daily', 'Europe/Berlin'), 24 * HOUR);
    assert.equal(period('@every 90s', 'UTC'), 90_000);
  });

  it('tells on time, late, silent, suspended and on-demand apart', () => {
    assert.equal(taskHealth(task({ lastRun: ranAt(NOW - 30 * 60_000) }), NOW), 'ok');
    assert.equal(taskHealth(task({ lastRun: ranAt(NOW - 3 * HOUR) }), NOW), 'late');
    assert.equal(taskHealth(task({}), NOW), 'silent');
    assert.equal(taskHealth(task({ createdAt: new Date(NOW - 10 * 60_000).toISOString() }), NOW), 'ok', 'new and not yet due');
    assert.equal(taskHealth(task({ suspend: true, lastRun: ranAt(NOW - 3 * HOUR) }), NOW), 'suspended');
    const { schedule: _omit, ...noSchedule } = task({});
    assert.equal(taskHealth(noSchedule as Task, NOW), 'manual');
  });
});
