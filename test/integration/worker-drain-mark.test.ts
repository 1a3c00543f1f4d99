import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { StatusEvent } from '../../core/queue/port.ts';
import { getWorker, markDraining, recordWorkerHeartbeats } from '../../core/store/index.ts';
import { coreOnTestDatabase } from '../support/core.ts';
import { skipUnless } from '../support/services.ts';

type Heartbeat = Extract<StatusEvent, { kind: 'heartbeat' }>;

function beat(status: Heartbeat['status'], incarnation: string): Heartbeat {
  return {
    kind: 'heartbeat', workerId: 'w-1', pool: 'default', taskTypes: ['noop'], concurrency: 4, activeRuns: 0, status,
    hostname: 'h', version: '0', startedAt: new Date().toISOString(), at: new Date().toISOString(), incarnation,
  };
}

const ALIVE_SECONDS = 60;

describe('drain mark against heartbeats that overtake it', { skip: await skipUnless('postgres') }, () => {
  it('answers the worker as marked, and a heartbeat sent before the drain reached the worker does not undo it', async () => {
    const env = await coreOnTestDatabase();
    try {
      await recordWorkerHeartbeats(env.db, [beat('ALIVE', 'p1')], new Date());
      const marked = await markDraining(env.db, ALIVE_SECONDS, 'w-1');
      assert.equal(marked?.status, 'DRAINING', 'the answer is the worker as marked, whatever arrives after');
      // the worker's beat from before the drain message reached it
      await recordWorkerHeartbeats(env.db, [beat('ALIVE', 'p1')], new Date());
      assert.equal((await getWorker(env.db, ALIVE_SECONDS, 'w-1')).status, 'DRAINING');
      await recordWorkerHeartbeats(env.db, [beat('DRAINING', 'p1')], new Date());
      assert.equal((await getWorker(env.db, ALIVE_SECONDS, 'w-1')).status, 'DRAINING');
      await recordWorkerHeartbeats(env.db, [beat('DOWN', 'p1')], new Date());
      assert.equal((await getWorker(env.db, ALIVE_SECONDS, 'w-1')).status, 'STOPPED', 'the drained process stopped');
      assert.equal(await markDraining(env.db, ALIVE_SECONDS, 'w-1'), undefined, 'a stopped worker cannot be drained');
      // a new process under the same id starts ALIVE: the mark belonged to the one before
      await recordWorkerHeartbeats(env.db, [beat('ALIVE', 'p2')], new Date());
      assert.equal((await getWorker(env.db, ALIVE_SECONDS, 'w-1')).status, 'ALIVE');
    } finally {
      await env.close();
    }
  });
});
