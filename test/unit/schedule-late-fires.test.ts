import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileSchedule, planFires } from '../../core/schedule/index.ts';
import { CRON_CACHE_LIMIT, cronCacheSize, parseCron } from '../../core/schedule/cron-expression.ts';

const everySecond = compileSchedule('@every 1s', 'UTC');
const t0 = Date.UTC(2026, 4, 10, 12);

test('issue 12 defect 8: catchUp None runs a fire the running dispatcher is late for (a failed write, a pause)', () => {
  // the dispatcher has run since t0; its write of the t0+5s fire failed and is retried 3 s later
  const late = planFires({ schedule: everySecond, lastFireMs: t0 + 4000, createdMs: t0 - 60_000, nowMs: t0 + 8000, catchUp: 'None', maxCatchUp: 1, liveSinceMs: t0 });
  assert.deepEqual(late.due, [t0 + 8000]);
  const lateByMore = planFires({ schedule: everySecond, lastFireMs: t0 + 4000, createdMs: t0 - 60_000, nowMs: t0 + 8500, catchUp: 'None', maxCatchUp: 1, liveSinceMs: t0 });
  assert.deepEqual(lateByMore.due, [t0 + 8000], 'the latest fire since it started, even 500 ms late');
  assert.deepEqual(lateByMore.missed, [t0 + 5000, t0 + 6000, t0 + 7000]);
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
