import { parseArgs } from 'node:util';
import { openSimDatabase } from './simulate.ts';
import { PARTITION_SIM_DEFAULTS, runPartitionSeed } from './partition-sim.ts';

const D = PARTITION_SIM_DEFAULTS;
const USAGE = `npm run sim:partitions -- [--seeds N] [--first F] [--seed S] [--dispatchers D] [--schedules K] [--active-s A] [--settle-s S] [--json]
  Partitioned leadership at scale (test/sim/partition-sim.ts): D dispatchers (default ${D.dispatchers}) with the real
  fire-partition leases and fence join, crash, freeze and come back for A virtual seconds (default ${D.activeS}) of
  database faults, then S seconds (default ${D.settleS}) with all up and no fault, while the slots of K schedules
  (default ${D.schedules.toLocaleString('en-US')}) are fired. Judged: no partition's second fired twice or never, none
  fired more than 10 s late once faults are off, a dead dispatcher's share fired again within 10 s, fair shares.
  --seed S   one seed, with its trace on a failure`;

const { values } = parseArgs({
  options: {
    seeds: { type: 'string' },
    first: { type: 'string' },
    seed: { type: 'string' },
    dispatchers: { type: 'string' },
    schedules: { type: 'string' },
    'active-s': { type: 'string' },
    'settle-s': { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const number = (name: string, raw: string | undefined, fallback: number, min: number) => {
  const n = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(n) || n < min) {
    console.error(`--${name}: must be an integer of at least ${min}\n${USAGE}`);
    process.exit(2);
  }
  return n;
};
const options = {
  ...D,
  dispatchers: number('dispatchers', values.dispatchers, D.dispatchers, 1),
  schedules: number('schedules', values.schedules, D.schedules, 1),
  activeS: number('active-s', values['active-s'], D.activeS, 30),
  settleS: number('settle-s', values['settle-s'], D.settleS, 20),
};
const replay = values.seed === undefined ? undefined : number('seed', values.seed, 1, 0);
const first = replay ?? number('first', values.first, 1, 0);
const count = replay === undefined ? number('seeds', values.seeds, 3, 1) : 1;

const db = await openSimDatabase();
const began = performance.now();
const results = [];
for (let seed = first; seed < first + count; seed++) {
  const result = await runPartitionSeed(db, seed, options);
  results.push({ seed, violations: result.violations, stats: result.stats });
  if (values.json) continue;
  const s = result.stats;
  console.log(
    `seed ${seed}: ${result.violations.length === 0 ? 'ok' : `${result.violations.length} violation(s)`}; ${s.fires} partition-seconds fired, ` +
      `${s.executedPerS.toLocaleString('en-US')} slots executed/s of ${s.duePerS.toLocaleString('en-US')} due; lag p99 ${s.lagP99Ms} ms, max ${s.lagMaxMs} ms; ` +
      `${s.deaths} deaths (slowest share fired again after ${s.healMaxMs} ms), ${s.freezes} freezes; schedules per dispatcher ${s.schedulesPerDispatcher.min.toLocaleString('en-US')}-${s.schedulesPerDispatcher.max.toLocaleString('en-US')}`,
  );
  for (const v of result.violations.slice(0, 10)) console.log(`  - ${v}`);
  if (result.violations.length > 0) console.log(replay !== undefined ? result.trace.join('\n') : `  replay: npm run sim:partitions -- --seed ${seed} (with the same options)`);
}
const failed = results.filter((r) => r.violations.length > 0).length;
const seconds = Number(((performance.now() - began) / 1000).toFixed(1));
if (values.json) console.log(JSON.stringify({ options, failed, seconds, results }));
else console.log(`${count} seed(s) from ${first}, ${options.dispatchers} dispatchers, ${options.schedules.toLocaleString('en-US')} schedules: ${failed} failed in ${seconds} s`);
await db.close();
process.exit(failed > 0 ? 1 : 0);
