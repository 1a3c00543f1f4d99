import { parseArgs } from 'node:util';
import { DEFAULT_OPTIONS, openSimDatabase, runSeed, type SeedResult } from './simulate.ts';

const USAGE = `npm run sim -- [--seeds N] [--seed S] [--first F] [--json] [--no-faults] [--heartbeats-overtake] [--long-stalls] [--lost-claim-answers] [--broker-claims] [--parallel-status] [--worker-freezes] [--active-s A] [--settle-s S] [--trace]
  --seeds N              how many seeds to run (default 100), from --first (default 1)
  --seed S               run only seed S (a replay), with its whole trace on a failure
  --heartbeats-overtake  let heartbeats overtake outcomes on the broker (issue 12 defect 1)
  --long-stalls          database round trips may hang, and a vanished dispatcher's connections go
                         unnoticed, past worker_timeout (issue 12 defect 11)
  --lost-claim-answers   a granted claim's answer may be lost (issue 12 defect 6)
  --broker-claims        claims are decided by the broker, as on redis_stream (a claim key per attempt,
                         taken by the first claimer or by a cancel), not by the core on the run's row
  --parallel-status      every core consumer takes status batches at once (a consumer group), so batches
                         are applied side by side, in any order
  --worker-freezes       workers may freeze past worker_timeout and go on (a partitioned host), so their
                         late outcomes meet the retries the core made
  These six are off by default; the CI form runs the first and the third on 100 seeds, and all but the
  second on 100 more (the redis_stream world).
  Every seed runs 1 to 3 dispatcher replicas under the real lease; faults include crashed, frozen and
  vanished dispatchers, crashed and drained workers, failed and hanging round trips, lost answers.
  --active-s A           seconds of simulated time with faults per seed (default ${DEFAULT_OPTIONS.activeMs / 1000})
  --settle-s S           the longest settling afterwards, in seconds of simulated time, while nothing is
                         active (default ${DEFAULT_OPTIONS.settleMs / 1000}); it ends sooner once the world is at rest
                         twice, 10 s apart, after 45 s (or S if smaller), and goes on while runs are active
  A replay needs the options of the run it replays (the CI form uses --active-s 20 --settle-s 40).
  --jobs J               split the seeds over J processes (one per core); the summary is the same
  --json                 one JSON summary on stdout`;

const { values } = parseArgs({
  options: {
    seeds: { type: 'string' },
    seed: { type: 'string' },
    first: { type: 'string' },
    json: { type: 'boolean', default: false },
    'no-faults': { type: 'boolean', default: false },
    'heartbeats-overtake': { type: 'boolean', default: false },
    'long-stalls': { type: 'boolean', default: false },
    'lost-claim-answers': { type: 'boolean', default: false },
    'broker-claims': { type: 'boolean', default: false },
    'parallel-status': { type: 'boolean', default: false },
    'worker-freezes': { type: 'boolean', default: false },
    'active-s': { type: 'string' },
    'settle-s': { type: 'string' },
    trace: { type: 'boolean', default: false },
    jobs: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const replay = values.seed !== undefined ? Number(values.seed) : undefined;
const count = replay !== undefined ? 1 : Number(values.seeds ?? 100);
const first = replay ?? Number(values.first ?? 1);
for (const [name, n] of [['--seeds', count], ['--seed/--first', first], ['--active-s', Number(values['active-s'] ?? 1)], ['--settle-s', Number(values['settle-s'] ?? 1)]] as const) {
  if (!Number.isInteger(n) || n < 0) {
    console.error(`${name}: must be a non-negative integer\n${USAGE}`);
    process.exit(2);
  }
}
const options = {
  ...DEFAULT_OPTIONS,
  faults: !values['no-faults'],
  heartbeatsOvertake: values['heartbeats-overtake'],
  longStalls: values['long-stalls'],
  lostClaimAnswers: values['lost-claim-answers'],
  brokerClaims: values['broker-claims'],
  parallelStatus: values['parallel-status'],
  workerFreezes: values['worker-freezes'],
  ...(values['active-s'] ? { activeMs: Number(values['active-s']) * 1000 } : {}),
  ...(values['settle-s'] ? { settleMs: Number(values['settle-s']) * 1000 } : {}),
  fullTrace: replay !== undefined || values.trace,
};

/** the options of this run, as flags: a replay needs them all */
const replayFlags = [
  values['active-s'] ? ` --active-s ${values['active-s']}` : '',
  values['settle-s'] ? ` --settle-s ${values['settle-s']}` : '',
  values['no-faults'] ? ' --no-faults' : '',
  values['heartbeats-overtake'] ? ' --heartbeats-overtake' : '',
  values['long-stalls'] ? ' --long-stalls' : '',
  values['lost-claim-answers'] ? ' --lost-claim-answers' : '',
  values['broker-claims'] ? ' --broker-claims' : '',
  values['parallel-status'] ? ' --parallel-status' : '',
  values['worker-freezes'] ? ' --worker-freezes' : '',
].join('');

const jobs = Number(values.jobs ?? 1);
if (!Number.isInteger(jobs) || jobs < 1) {
  console.error(`--jobs: must be a positive integer\n${USAGE}`);
  process.exit(2);
}
if (jobs > 1 && replay === undefined && count > 1) process.exit(await runInJobs(jobs));

/**
 * Each job runs a contiguous range of the seeds in a process of its own (a seed needs its own PGlite, and
 * one process uses one core); the failures and figures are merged into the one summary.
 */
async function runInJobs(n: number): Promise<number> {
  const { spawn } = await import('node:child_process');
  const began = performance.now();
  const per = Math.ceil(count / n);
  const ranges = Array.from({ length: n }, (_, i) => ({ first: first + i * per, seeds: Math.max(0, Math.min(per, count - i * per)) })).filter((r) => r.seeds > 0);
  const passThrough = process.argv.slice(2).filter((arg, i, all) => !['--jobs', '--seeds', '--first', '--json'].includes(arg) && !['--jobs', '--seeds', '--first'].includes(all[i - 1] ?? ''));
  const parts = await Promise.all(
    ranges.map(
      (range) =>
        new Promise<{ failed: number; failedSeeds: number[]; violations: number; runs: number; executions: number; failures: Array<{ seed: number; violations: string[] }> }>((resolve, reject) => {
          const child = spawn(process.execPath, [process.argv[1] as string, ...passThrough, '--json', '--first', String(range.first), '--seeds', String(range.seeds)], { stdio: ['ignore', 'pipe', 'inherit'] });
          let out = '';
          child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
          child.on('error', reject);
          child.on('close', () => {
            const line = out.trim().split('\n').at(-1) ?? '';
            try {
              resolve(JSON.parse(line));
            } catch {
              reject(new Error(`seeds ${range.first}-${range.first + range.seeds - 1}: no summary (${line.slice(0, 200)})`));
            }
          });
        }),
    ),
  );
  const failures = parts.flatMap((p) => p.failures).sort((a, b) => a.seed - b.seed);
  const merged = {
    seeds: count, first, jobs: n, failed: failures.length, failedSeeds: failures.map((f) => f.seed),
    violations: parts.reduce((sum, p) => sum + p.violations, 0), runs: parts.reduce((sum, p) => sum + p.runs, 0),
    executions: parts.reduce((sum, p) => sum + p.executions, 0), seconds: Number(((performance.now() - began) / 1000).toFixed(1)),
  };
  if (values.json) console.log(JSON.stringify({ ...merged, failures }));
  else {
    for (const f of failures) {
      console.log(`seed ${f.seed}: ${f.violations.length} invariant violation(s)`);
      for (const v of f.violations.slice(0, 10)) console.log(`  - ${v}`);
      console.log(`  replay: npm run sim -- --seed ${f.seed}${replayFlags}`);
    }
    console.log(`${count} seed(s) from ${first} in ${n} jobs: ${merged.failed} failed, ${merged.violations} violation(s); ${merged.runs} runs, ${merged.executions} executions in ${merged.seconds.toFixed(1)} s`);
  }
  return failures.length > 0 ? 1 : 0;
}

let db = await openSimDatabase();
const started = performance.now();
const failures: SeedResult[] = [];
let runs = 0;
let executions = 0;
for (let seed = first; seed < first + count; seed++) {
  const result = await runSeed(db, seed, options);
  // a hung seed's stuck world keeps its database: the next seeds get a new one
  if (result.hung) db = await openSimDatabase();
  runs += result.stats.runs;
  executions += result.stats.executions;
  if (result.violations.length > 0) {
    failures.push(result);
    if (!values.json) {
      console.log(`seed ${seed}: ${result.violations.length} invariant violation(s)`);
      for (const v of result.violations.slice(0, 10)) console.log(`  - ${v}`);
      console.log(`  replay: npm run sim -- --seed ${seed}${replayFlags}`);
      if (replay !== undefined || values.trace) console.log(result.trace.join('\n'));
      else console.log(`  last of the trace:\n    ${result.trace.slice(-40).join('\n    ')}`);
    }
  } else if (!values.json && replay !== undefined) {
    console.log(`seed ${seed}: ok (${result.stats.runs} runs, ${result.stats.executions} executions)`);
    if (values.trace) console.log(result.trace.join('\n'));
  }
}
const seconds = (performance.now() - started) / 1000;
const summary = { seeds: count, first, failed: failures.length, failedSeeds: failures.map((f) => f.seed), violations: failures.reduce((n, f) => n + f.violations.length, 0), runs, executions, seconds: Number(seconds.toFixed(1)), options: { ...options, fullTrace: undefined } };
if (values.json) console.log(JSON.stringify({ ...summary, failures: failures.map((f) => ({ seed: f.seed, violations: f.violations })) }));
else console.log(`${count} seed(s) from ${first}: ${failures.length} failed, ${summary.violations} violation(s); ${runs} runs, ${executions} executions in ${seconds.toFixed(1)} s`);
await db.close();
process.exit(failures.length > 0 ? 1 : 0);
