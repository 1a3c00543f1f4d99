/**
 * One repetition of one scenario on one system, in a process of its own (so memory, connections and
 * JIT state never leak from one measurement into the next). Spawned by run.ts:
 *
 *   node bench/case.ts '{"scenario":"throughput","system":"bullmq","quick":false}'
 *
 * Prints one line `BENCH_RESULT {"metrics":{...},"config":{...}}` on stdout.
 */
import { catchUp } from './scenarios/catch-up.ts';
import { latency } from './scenarios/latency.ts';
import { OPERATOR_SYSTEM, operatorCase } from './scenarios/operator.ts';
import { partitions } from './scenarios/partitions.ts';
import { scale } from './scenarios/scale.ts';
import { lagShapes, scheduleLag } from './scenarios/schedule-lag.ts';
import { historyCase } from './scenarios/history.ts';
import { throughput } from './scenarios/throughput.ts';
import { throughputSpread } from './scenarios/throughput-spread.ts';
import { BullmqSystem } from './systems/bullmq.ts';
import { GraphileWorkerSystem } from './systems/graphile-worker.ts';
import { HourglassSystem } from './systems/hourglass.ts';
import { PgBossSystem } from './systems/pg-boss.ts';
import type { BenchSystem, SystemName } from './systems/types.ts';

export const RESULT_PREFIX = 'BENCH_RESULT ';

export interface CaseSpec {
  scenario: 'throughput' | 'throughput-spread' | 'latency' | 'schedule-lag' | 'scale' | 'partitions' | 'catch-up' | 'history' | 'operator';
  system: SystemName | typeof OPERATOR_SYSTEM;
  quick: boolean;
  /** schedule-lag: which of lagShapes() */
  shape?: number;
}

function makeSystem(name: SystemName): BenchSystem {
  if (name === 'bullmq') return new BullmqSystem();
  if (name === 'pg-boss') return new PgBossSystem();
  if (name === 'graphile-worker') return new GraphileWorkerSystem();
  return new HourglassSystem(name.slice('hourglass/'.length) as 'postgres' | 'redis_stream' | 'rabbitmq');
}

async function runCase(spec: CaseSpec): Promise<{ metrics: Record<string, number>; config: Record<string, unknown> }> {
  if (spec.scenario === 'operator' || spec.system === OPERATOR_SYSTEM) return operatorCase(spec.quick);
  // two systems of its own (empty, then with history), each set up and torn down in turn
  if (spec.scenario === 'history') return historyCase(spec.system, spec.quick);
  const system = makeSystem(spec.system);
  await system.setup();
  try {
    const options = { quick: spec.quick };
    let metrics: Record<string, number>;
    if (spec.scenario === 'throughput') metrics = await throughput(system, options);
    else if (spec.scenario === 'throughput-spread') metrics = await throughputSpread(system, options);
    else if (spec.scenario === 'latency') metrics = await latency(system, options);
    else if (spec.scenario === 'scale') metrics = await scale(system, options);
    else if (spec.scenario === 'partitions') metrics = await partitions(system, options);
    else if (spec.scenario === 'catch-up') metrics = await catchUp(system, options);
    else {
      const shape = lagShapes(spec.quick)[spec.shape ?? 0];
      if (!shape) throw new Error(`no schedule-lag shape ${spec.shape}`);
      metrics = await scheduleLag(system, { ...options, shape });
    }
    return { metrics, config: system.config };
  } finally {
    // Dropping a database ends the connections a peer may still hold (graphile-worker's listener, pg-boss'
    // pool); the error events they emit then must not turn a finished measurement into a failed one.
    tearingDown = true;
    await system.teardown();
    tearingDown = false;
  }
}

let tearingDown = false;
for (const event of ['uncaughtException', 'unhandledRejection'] as const) {
  process.on(event, (error: unknown) => {
    process.stderr.write(`${event}${tearingDown ? ' during teardown (ignored)' : ''}: ${String((error as Error)?.stack ?? error)}\n`);
    if (!tearingDown) process.exit(1);
  });
}

if (import.meta.main) {
  const spec = JSON.parse(process.argv[2] ?? '{}') as CaseSpec;
  const result = await runCase(spec);
  process.stdout.write(`\n${RESULT_PREFIX}${JSON.stringify(result)}\n`);
  // peers' clients may keep timers or sockets alive after close; the result is out, so leave
  process.exit(0);
}
