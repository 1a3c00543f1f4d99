/**
 * The long form of the chaos suite: `npm run chaos -- --duration SECONDS [--backend NAME] [--json]`.
 * Runs each backend in turn (fresh database, real processes, faults for SECONDS) and prints one summary
 * line per backend, or with --json exactly `{ "backends": [ { name, fires, triggers, kills, cuts,
 * duplicates, lost, stuck, unexpectedRetries, dependantsLost, firedWhileSuspended, recoverySeconds,
 * leaderRecoverySeconds } ] }` on stdout. Exits 1 when any invariant was broken, or when a standby took
 * 10 s or more to fire after the leader's host vanished.
 */
import { parseArgs } from 'node:util';
import { skipUnless } from '../support/services.ts';
import { killAll, type Backend } from '../support/processes.ts';
import { runChaos, type BackendResult } from './scenario.ts';

const BACKENDS: readonly Backend[] = ['postgres', 'redis_stream', 'rabbitmq'];
const SERVICES: Record<Backend, Parameters<typeof skipUnless>> = {
  postgres: ['postgres'],
  redis_stream: ['postgres', 'redis'],
  rabbitmq: ['postgres', 'rabbitmq'],
};

const USAGE = `usage: npm run chaos -- --duration SECONDS [--backend postgres|redis_stream|rabbitmq] [--json] [--tasks N]
                      [--triggers-per-second N] [--dispatchers N] [--workers N] [--vanish-seconds N] [--seed N]
  --duration SECONDS      faults for this long per backend (default 60); then every invariant is checked
  --backend NAME          one backend only (default: all three, in turn)
  --tasks N               @every 1s tasks, each a shell command (default 60: what 2 cores execute with room to
                          spare; past the machine's capacity the backlog shows up as stuck runs and workers
                          declared dead for being slow, which measures the machine, not the scheduler)
  --triggers-per-second N manual triggers through the REST API (default 5)
  --dispatchers N         dispatcher replicas (default 3); --workers N: worker processes (default 3)
  --vanish-seconds N      how long a vanished host stays away (default 65: past a minute, as issue 12 asks)
  --seed N                the fault sequence (default random; printed, so a run can be repeated)
  --json                  one line: { "backends": [ { name, fires, duplicates, lost, stuck, unexpectedRetries, ... } ] }`;

function usage(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '60' },
    backend: { type: 'string' },
    json: { type: 'boolean', default: false },
    tasks: { type: 'string', default: '60' },
    'triggers-per-second': { type: 'string', default: '5' },
    dispatchers: { type: 'string', default: '3' },
    workers: { type: 'string', default: '3' },
    'vanish-seconds': { type: 'string', default: '65' },
    seed: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const number = (name: string, raw: string | undefined, min: number): number => {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) usage(`--${name}: expected an integer >= ${min}, got "${raw}"`);
  return value;
};
const duration = number('duration', values.duration, 1);
if (values.backend !== undefined && !BACKENDS.includes(values.backend as Backend)) usage(`--backend: expected one of ${BACKENDS.join(', ')}, got "${values.backend}"`);
const backends = values.backend ? [values.backend as Backend] : [...BACKENDS];
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : number('seed', values.seed, 0);

const results: BackendResult[] = [];
let broken = false;
for (const backend of backends) {
  const skipped = await skipUnless(...SERVICES[backend]);
  if (skipped) {
    process.stderr.write(`${backend}: skipped (${skipped})\n`);
    continue;
  }
  const report = await runChaos({
    backend,
    durationSeconds: duration,
    tasks: number('tasks', values.tasks, 1),
    triggersPerSecond: number('triggers-per-second', values['triggers-per-second'], 0),
    dispatchers: number('dispatchers', values.dispatchers, 1),
    workers: number('workers', values.workers, 1),
    vanishSeconds: number('vanish-seconds', values['vanish-seconds'], 1),
    seed,
    log: (line) => process.stderr.write(`${line}\n`),
  });
  results.push(report.result);
  const r = report.result;
  const line = `${r.name}: fires ${r.fires}, triggers ${r.triggers}, kills ${r.kills}, cuts ${r.cuts}, duplicates ${r.duplicates}, lost ${r.lost}, stuck ${r.stuck}, `
    + `unexpected retries ${r.unexpectedRetries}, dependants lost ${r.dependantsLost}, fired while suspended ${r.firedWhileSuspended}, `
    + `recovery ${r.recoverySeconds}s after the last fault, ${r.leaderRecoverySeconds ?? '-'}s after a vanished leader host; crashes ${report.crashes.length} (seed ${seed}, ${duration}s of faults)`;
  process.stderr.write(values.json ? `${line}\n` : '');
  if (!values.json) process.stdout.write(`${line}\n`);
  for (const crash of report.crashes) {
    broken = true;
    process.stderr.write(`crash: ${crash.process} exited with code ${crash.code} signal ${crash.signal}\n${crash.stderr.join('\n')}\n`);
  }
  if (r.leaderRecoverySeconds !== null && r.leaderRecoverySeconds >= 10) {
    broken = true;
    process.stderr.write(`a standby fired only ${r.leaderRecoverySeconds}s after the leader's host vanished (target: under 10 s)\n`);
  }
  if (report.violations.examples.length > 0) {
    broken = true;
    process.stderr.write(`${report.violations.examples.join('\n')}\nfaults:\n${report.faults.join('\n')}\n`);
  }
  // the processes' output: for a broken run, and for a clean one too with CHAOS_DUMP=1 (a slow recovery is
  // evidence worth reading)
  if ((report.violations.examples.length > 0 || process.env.CHAOS_DUMP === '1') && report.output) process.stderr.write(`${report.output}\n`);
}
await killAll();
if (values.json) process.stdout.write(`${JSON.stringify({ backends: results })}\n`);
process.exit(broken ? 1 : 0);
