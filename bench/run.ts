/**
 * The benchmark harness (issue 7): Hourglass on each queue backend side by side with BullMQ, pg-boss and
 * graphile-worker, on this machine's Postgres, Redis and RabbitMQ, in the same run.
 *
 *   npm run bench                          every scenario, 3 repetitions, tables on stdout
 *   npm run bench -- --quick               smoke run: small counts, 1 repetition (CI; asserts nothing about time)
 *   npm run bench -- --scenario latency    one scenario (repeatable)
 *   npm run bench -- --systems bullmq,hourglass/redis_stream   only these systems
 *   npm run bench -- --reps 5              repetitions per system (median, min, max)
 *   npm run bench -- --json                one JSON document on stdout (tables go to stderr)
 *   npm run bench -- --markdown            the tables as markdown (for bench/README.md)
 *   npm run bench -- --help                the options, and BENCH_FIRE_LEAD_MS
 *
 * Each repetition runs in a fresh child process (bench/case.ts) on a fresh database / key prefix /
 * broker namespace, removed afterwards. See bench/README.md for what each scenario measures.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { CaseSpec } from './case.ts';
import { runCaseProcess, type CaseResult } from './lib/child.ts';
import { machineInfo } from './lib/machine.ts';
import { renderMarkdown, renderScenario, type BenchReport, type Row, type ScenarioReport } from './lib/report.ts';
import { spread } from './lib/stats.ts';
import { historyShape } from './lib/history-fill.ts';
import { dropHistoryTemplate, historyCalls } from './scenarios/history.ts';
import { catchUpShape } from './scenarios/catch-up.ts';
import { OPERATOR_SYSTEM } from './scenarios/operator.ts';
import { partitionsShape } from './scenarios/partitions.ts';
import { lagShapes } from './scenarios/schedule-lag.ts';
import { throughputCounts } from './scenarios/throughput.ts';
import { spreadCounts } from './scenarios/throughput-spread.ts';
import { SYSTEMS, type SystemName } from './systems/types.ts';

const SCENARIO_NAMES = ['throughput', 'throughput-spread', 'latency', 'schedule-lag', 'scale', 'partitions', 'catch-up', 'history', 'operator'] as const;
/** left out of --quick unless named with --scenario: history's two databases, fill and API lists add ~50 s to the smoke run */
const NOT_QUICK: ScenarioName[] = ['history'];
type ScenarioName = (typeof SCENARIO_NAMES)[number];

type PlannedSystem = SystemName | typeof OPERATOR_SYSTEM;

interface Plan {
  description: (quick: boolean) => string;
  systems: readonly PlannedSystem[];
  notes: string[];
  /** one case per variant; metrics of variant i are prefixed by prefix(i) */
  variants: (quick: boolean) => Array<{ shape?: number; prefix: string }>;
  timeoutMs: number;
}

const ALL_BACKENDS: SystemName[] = ['hourglass/postgres', 'hourglass/redis_stream', 'hourglass/rabbitmq'];

const PLANS: Record<ScenarioName, Plan> = {
  throughput: {
    description: (quick) => {
      const { jobs, realWork } = throughputCounts(quick);
      return `${jobs} no-op jobs submitted in bulk, one worker at concurrency 50; per second (shell/http: ${realWork} jobs, Hourglass only)`;
    },
    systems: SYSTEMS,
    notes: [],
    variants: () => [{ prefix: '' }],
    timeoutMs: 600_000,
  },
  'throughput-spread': {
    description: (quick) => {
      const { jobs, tasks, pools, workers } = spreadCounts(quick);
      return `${jobs} no-op jobs of ${tasks} tasks over ${pools} pools submitted in bulk, ${workers} workers at concurrency 50 covering every pool; per second`;
    },
    systems: SYSTEMS,
    notes: [
      'a Hourglass worker serves one pool: 10 workers (one per pool) at concurrency 20, the same 200 slots as 4 x 50; BullMQ: 4 x 10 Worker objects (one per queue) at concurrency 5; pg-boss: 4 x 10 work() at localConcurrency 1 x batchSize 5, one instance; graphile-worker: 4 runners at concurrency 50 knowing all 1,000 task identifiers, no queue_name (a serial queue there)',
    ],
    variants: () => [{ prefix: '' }],
    timeoutMs: 600_000,
  },
  latency: {
    description: (quick) => `${quick ? 50 : 1000} triggers at 200/s, trigger call to job start, ms; each trigger durable before it returns`,
    systems: SYSTEMS,
    notes: [],
    variants: () => [{ prefix: '' }],
    timeoutMs: 180_000,
  },
  'schedule-lag': {
    description: (quick) =>
      lagShapes(quick)
        .map((s) => `s${s.schedules}: ${s.schedules} schedules every ${s.everyMs / 1000} s for ${s.durationMs / 1000} s`)
        .join('; ') + '; lag from intended time to job start, ms',
    systems: [...ALL_BACKENDS, 'bullmq'],
    notes: ['pg-boss and graphile-worker schedule by cron, to the minute: they have no 1 s or 10 s schedules to compare'],
    variants: (quick) => lagShapes(quick).map((s, i) => ({ shape: i, prefix: `s${s.schedules}_` })),
    timeoutMs: 300_000,
  },
  scale: {
    description: (quick) => `${quick ? 2000 : 100_000} schedules (S * * * * *, spread over the minute) loaded into one dispatcher, postgres queue`,
    systems: ['hourglass/postgres'],
    notes: ['peers have no single-dispatcher equivalent to load 100,000 schedules into; Hourglass only'],
    variants: () => [{ prefix: '' }],
    timeoutMs: 600_000,
  },
  partitions: {
    description: (quick) => {
      const { tasks, steadyMs, afterMs } = partitionsShape(quick);
      return `${tasks} schedules (S * * * * *, spread over the minute) fired by 3 dispatchers (64 fire partitions, lease 5 s), postgres queue: a ${steadyMs / 1000} s steady window, then one killed, one vanished and one joining; lag ${afterMs / 1000} s after each move`;
    },
    systems: ['hourglass/postgres'],
    notes: ['peers have no partitioned scheduler to compare; Hourglass only. duplicates: (task, slot, shard) with more than one run; missed_slots: due slots with no run nor missed record'],
    variants: () => [{ prefix: '' }],
    timeoutMs: 600_000,
  },
  history: {
    description: (quick) => {
      const { runs } = historyShape(quick);
      return `${throughputCounts(quick).jobs} no-op jobs as in throughput, and ${historyCalls(quick)} calls of each REST run list, on an empty hg_runs (empty_*) and with ${runs} finished runs of 1000 tasks in it; ratio = history / empty`;
    },
    systems: ALL_BACKENDS,
    notes: ['peers keep no run history to list (graphile-worker deletes done jobs, pg-boss keeps them 7 days, BullMQ has no list by task, status or pool); Hourglass only'],
    variants: () => [{ prefix: '' }],
    timeoutMs: 1_800_000,
  },
  'catch-up': {
    description: (quick) => {
      const { tasks, outageMs } = catchUpShape(quick);
      return `${tasks} tasks @every 1s (catchUp All, maxCatchUp 100) back from a ${outageMs / 3_600_000} h outage, beside one task firing every second (priority 10); postgres queue`;
    },
    systems: ['hourglass/postgres'],
    notes: ['the catch-up runs are written a chunk per tick after the on-time fires; other_fire_* is intended time to durable and queued (0 for a fire written ahead by the fire lead), other_start_* to the job starting'],
    variants: () => [{ prefix: '' }],
    timeoutMs: 600_000,
  },
  operator: {
    description: (quick) =>
      `${quick ? 200 : 10_000} ScheduledTasks in the in-memory API server, then \`scheduler --mode operator\`: time to all registered and their status written; idle_writes = writes in the quiet seconds after; relist_* = after 410 Gone`,
    systems: [OPERATOR_SYSTEM],
    notes: ['peers have no Kubernetes operator; Hourglass only'],
    variants: () => [{ prefix: '' }],
    timeoutMs: 600_000,
  },
};

const USAGE = `npm run bench -- [options]

  --scenario NAME   one scenario, repeatable (default: all): ${SCENARIO_NAMES.join(', ')}
  --systems A,B     only these systems: ${[...SYSTEMS, OPERATOR_SYSTEM].join(', ')}
  --reps N          repetitions per system, reported as median (min-max); default 3 (1 with --quick)
  --quick           smoke run: small counts, 1 repetition (asserts nothing about time)
  --json            one JSON document on stdout (tables go to stderr)
  --markdown        the tables as markdown (for bench/README.md)
  --help            this text

Environment: BENCH_FIRE_LEAD_MS sets Hourglass's dispatcher.fire_lead_ms (default: the configuration's;
0 writes every fire at its time). What each scenario measures: bench/README.md.`;

function parse() {
  const { values } = parseArgs({
    options: {
      help: { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      markdown: { type: 'boolean', default: false },
      scenario: { type: 'string', multiple: true },
      systems: { type: 'string' },
      reps: { type: 'string' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const scenarios = (values.scenario ?? SCENARIO_NAMES.filter((s) => !values.quick || !NOT_QUICK.includes(s))) as ScenarioName[];
  for (const s of scenarios) if (!SCENARIO_NAMES.includes(s)) throw new Error(`--scenario ${s}: one of ${SCENARIO_NAMES.join(', ')}`);
  const systems = values.systems ? (values.systems.split(',') as PlannedSystem[]) : undefined;
  for (const s of systems ?? []) if (s !== OPERATOR_SYSTEM && !SYSTEMS.includes(s)) throw new Error(`--systems ${s}: one of ${SYSTEMS.join(', ')}`);
  const reps = values.reps ? Number(values.reps) : values.quick ? 1 : 3;
  if (!Number.isInteger(reps) || reps < 1) throw new Error('--reps: a positive integer');
  return { quick: values.quick, json: values.json, markdown: values.markdown, scenarios, systems, reps };
}

const args = parse();
const print = (text: string) => (args.json ? process.stderr : process.stdout).write(`${text}\n`);
const report: BenchReport = { machine: machineInfo(), config: { quick: args.quick, repetitions: args.reps }, scenarios: [] };
print(`machine: ${report.machine.cpus} x ${report.machine.cpuModel}, ${report.machine.memoryGiB} GiB, load ${report.machine.loadAverage.join(' ')}, ${report.machine.os}, node ${report.machine.node}`);
print(`versions: ${Object.entries(report.machine.versions).map(([k, v]) => `${k} ${v}`).join(', ')}\n`);

for (const name of args.scenarios) {
  // history: the runs are written once into this template, and every case measures a copy of it
  const template = name === 'history' ? `hg_bench_history_${randomBytes(5).toString('hex')}` : undefined;
  if (template) process.env.BENCH_HISTORY_TEMPLATE = template;
  const scenario = await runPlanned(name, PLANS[name]).finally(async () => {
    if (template) await dropHistoryTemplate(template);
    delete process.env.BENCH_HISTORY_TEMPLATE;
  });
  report.scenarios.push(scenario);
  print(args.markdown ? renderMarkdown(scenario, args.reps) : renderScenario(scenario, args.reps));
}
if (args.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);

async function runPlanned(name: ScenarioName, plan: Plan): Promise<ScenarioReport> {
  const scenario: ScenarioReport = { name, description: plan.description(args.quick), rows: [], config: {}, notes: [...plan.notes] };
  const systems = plan.systems.filter((s) => !args.systems || args.systems.includes(s));
  for (const system of systems) {
    const samples = new Map<string, number[]>();
    try {
      for (const variant of plan.variants(args.quick)) {
        for (let rep = 0; rep < args.reps; rep++) {
          const spec: CaseSpec = { scenario: name, system, quick: args.quick, ...(variant.shape !== undefined ? { shape: variant.shape } : {}) };
          const result: CaseResult = await runCaseProcess(spec, plan.timeoutMs);
          scenario.config[system] = result.config;
          for (const [metric, value] of Object.entries(result.metrics)) {
            const key = `${variant.prefix}${metric}`;
            samples.set(key, [...(samples.get(key) ?? []), value]);
          }
          process.stderr.write(`  ${name} ${system}${variant.prefix ? ` ${variant.prefix.slice(0, -1)}` : ''} #${rep + 1}: ${JSON.stringify(result.metrics)}\n`);
        }
      }
    } catch (error) {
      scenario.notes.push(`${system} failed: ${(error as Error).message.split('\n').join(' | ')}`);
      continue;
    }
    for (const [metric, values] of samples) scenario.rows.push({ system, metric, ...spread(values) } satisfies Row);
  }
  return scenario;
}
