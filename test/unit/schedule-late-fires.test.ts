import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileSchedule, planFires } from '../../core/schedule/index.ts';
import { CRON_CACHE_LIMIT, cronCacheSize, parseCron } from '../../core/schedule/cron-expression.ts';

const t0 = Date.UTC(2026, 4, 10, 12);

test('issue 12 defect 8: catchUp None runs a fire the running dispatcher is late for (a failed write, a pause)', () => {
  const every10s = compileSchedule('@every 10s', 'UTC');
  // the dispatcher has run since t0 - 5 s; its write of the t0+10s fire failed and is retried 2 s later
  const late = planFires({ schedule: every10s, lastFireMs: t0, createdMs: t0 - 60_000, nowMs: t0 + 12_000, catchUp: 'None', maxCatchUp: 1, liveSinceMs: t0 - 5000 });
  assert.deepEqual(late, { due: [t0 + 10_000], missed: [], next: t0 + 20_000 });
  // later still, after two fires came: the latest runs, the one before is missed
  const later = planFires({ schedule: every10s, lastFireMs: t0, createdMs: t0 - 60_000, nowMs: t0 + 23_000, catchUp: 'None', maxCatchUp: 1, liveSinceMs: t0 - 5000 });
  assert.deepEqual(later, { due: [t0 + 20_000], missed: [t0 + 10_000], next: t0 + 30_000 });
  // fires from before it started are downtime: None still runs none of them
  const hourly = compileSchedule('0 * * * *', 'UTC');
  const downtime = planFires({ schedule: hourly, lastFireMs: t0 - 7_200_000, createdMs: t0 - 86_400_000, nowMs: t0 + 5000, catchUp: 'None', maxCatchUp: 1, liveSinceMs: t0 + 4000 });
  assert.deepEqual(downtime, { due: [], missed: [t0 - 3_600_000, t0], next: t0 + 3_600_000 });
});

test('issue 12 defect 13: the cron parse cache is bounded, most recently used kept', () => {
  parseCron('0 3 * * *');
  for (let i = 0; i < CRON_CACHE_LIMIT + 50; i++) parseCron(`${i % 60} ${Math.floor(i / 60) % 24} ${1 + (Math.floor(i / 1440) % 28)} * *`);
  assert.ok(cronCacheSize() <= CRON_CACHE_LIMIT, `at most ${CRON_CACHE_LIMIT} kept (${cronCacheSize()})`);
});
