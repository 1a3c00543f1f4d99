import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { skipUnless } from '../support/services.ts';
import type { Backend } from '../support/processes.ts';
import { runChaos } from './scenario.ts';

/**
 * The CI form of the chaos suite: each backend gets about a minute of faults (every kind at least once)
 * on a real topology, then the invariants are checked. The long form is `npm run chaos -- --duration N`.
 * CHAOS_SECONDS changes the length, CHAOS_SEED replays a sequence of faults.
 */
const SECONDS = Number(process.env.CHAOS_SECONDS ?? 45);
const SEED = process.env.CHAOS_SEED === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.CHAOS_SEED);

const BACKENDS: { backend: Backend; services: Parameters<typeof skipUnless> }[] = [
  { backend: 'postgres', services: ['postgres'] },
  { backend: 'redis_stream', services: ['postgres', 'redis'] },
  { backend: 'rabbitmq', services: ['postgres', 'rabbitmq'] },
];

for (const { backend, services } of BACKENDS) {
  describe(`chaos on ${backend}: kills, cuts, stalls and clock jumps lose, duplicate and strand nothing`, { skip: await skipUnless(...services) }, () => {
    it(`${SECONDS}s of faults under load (seed ${SEED})`, { timeout: (SECONDS + 150) * 1000 }, async (t) => {
      const report = await runChaos({
        backend,
        durationSeconds: SECONDS,
        tasks: 120,
        triggersPerSecond: 5,
        dispatchers: 3,
        workers: 3,
        seed: SEED,
        log: (line) => t.diagnostic(line),
      });
      const r = report.result;
      t.diagnostic(`${r.name}: fires ${r.fires}, triggers ${r.triggers}, kills ${r.kills}, cuts ${r.cuts}, duplicates ${r.duplicates}, lost ${r.lost}, stuck ${r.stuck}, recovery ${r.recoverySeconds}s`);
      const found = `${report.violations.examples.join('\n')}\nfaults:\n${report.faults.join('\n')}`;
      if (report.output && process.env.CHAOS_DUMP === '1') t.diagnostic(report.output);
      assert.deepEqual(report.crashes, [], 'a process crashed (it was restarted, but a crash is a bug)');
      assert.equal(r.duplicates, 0, `duplicates: ${found}`);
      assert.equal(r.lost, 0, `lost: ${found}`);
      assert.equal(r.stuck, 0, `stuck: ${found}`);
      // the run proved something only if it was under load and under fire
      assert.ok(r.fires >= 120 * SECONDS / 2, `only ${r.fires} fires`);
      assert.ok(r.triggers > 0, 'no trigger was acknowledged');
      assert.ok(r.kills >= 2 && r.cuts >= 2, `only ${r.kills} kills and ${r.cuts} cuts`);
    });
  });
}
