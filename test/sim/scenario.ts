import type { Prng } from './prng.ts';

export const POOLS = ['a', 'b'] as const;

/** A task as the scenario created it; the invariants judge the database against this. */
export interface SimTask {
  name: string;
  input: Record<string, unknown>;
  schedule?: string;
  shards: number;
  retryLimit: number;
  policy: 'Allow' | 'Forbid' | 'Replace';
  /** the one upstream of an on-demand dependant */
  upstream?: string;
  /** has dependants: never triggered by hand nor deleted, so "exactly once per fire" can be judged */
  hasDependants?: boolean;
  /** keeps a short history: retention deletes its old records, so they cannot be accounted for */
  pruned?: boolean;
}

export type SimEvent =
  | { at: number; kind: 'crash-worker' | 'stop-worker'; worker: string; downMs: number }
  | { at: number; kind: 'crash-dispatcher' | 'vanish-dispatcher'; dispatcher: string; downMs: number }
  | { at: number; kind: 'freeze-dispatcher'; dispatcher: string; forMs: number }
  | { at: number; kind: 'freeze-worker'; worker: string; forMs: number }
  | { at: number; kind: 'trigger' | 'delete' | 'change-pool'; task: string }
  | { at: number; kind: 'suspend'; task: string; forMs: number }
  | { at: number; kind: 'cancel-a-run' }
  | { at: number; kind: 'fault-burst'; forMs: number };

export interface Scenario {
  /** dispatcher replicas: one leads at a time through the lease */
  dispatchers: string[];
  tasks: SimTask[];
  workers: Array<{ name: string; pool: string; concurrency: number }>;
  events: SimEvent[];
}

/** schedules with their period, ms: work is kept below half the period so the pools keep up */
const SCHEDULES: Array<[string, number]> = [
  ['@every 5s', 5000],
  ['@every 8s', 8000],
  ['@every 13s', 13_000],
  ['@every 20s', 20_000],
  ['*/30 * * * * *', 30_000],
  ['* * * * *', 60_000],
];

/** A random deployment and a random story of what happens to it during `activeMs`, all from the prng. */
/** workerFreezes: workers may stop past worker_timeout and go on (a partitioned host), so late outcomes meet their retries */
export function makeScenario(prng: Prng, activeMs: number, { workerFreezes = false } = {}): Scenario {
  const tasks: SimTask[] = [];
  const count = prng.int(2, 5);
  for (let i = 0; i < count; i++) {
    const policy = prng.pick(['Allow', 'Forbid', 'Replace'] as const);
    const shards = prng.int(1, 3);
    const retryLimit = prng.int(0, 2);
    const [schedule, period] = prng.pick(SCHEDULES);
    const input: Record<string, unknown> = {
      name: `t${i}`,
      type: prng.chance(0.2) ? 'noop' : 'sleep',
      params: { ms: prng.int(0, Math.min(20_000, period / 2)), failUnder: prng.pick([0, 0, 0.2, 0.5]) },
      schedule,
      shards,
      concurrencyPolicy: policy,
      catchUp: prng.pick(['None', 'Latest', 'All']),
      maxCatchUp: prng.int(1, 5),
      timeoutSeconds: prng.int(5, 30),
      pool: prng.pick(POOLS),
      retry: { limit: retryLimit, backoff: { initialSeconds: prng.int(1, 5), factor: 2, maxSeconds: 20, jitter: 0 } },
      history: prng.chance(0.3) ? { successfulRunsLimit: prng.int(1, 5), failedRunsLimit: prng.int(1, 5) } : {},
    };
    if (input.type === 'noop') input.params = {};
    if (prng.chance(0.25)) input.startingDeadlineSeconds = prng.int(2, 20);
    const pruned = Object.keys(input.history as object).length > 0;
    tasks.push({ name: `t${i}`, input, schedule, shards, retryLimit, policy, pruned });
  }
  // dependants hang off a Forbid upstream, so each of its fires is the latest when it completes
  for (const upstream of tasks.filter((t) => t.policy === 'Forbid' && t.schedule)) {
    if (!prng.chance(0.7)) continue;
    upstream.hasDependants = true;
    upstream.pruned = false;
    upstream.input.history = {};
    const name = `d${tasks.length}`;
    const policy = prng.pick(['Allow', 'Forbid'] as const);
    const shards = prng.int(1, 2);
    tasks.push({
      name,
      upstream: upstream.name,
      shards,
      retryLimit: 0,
      policy,
      input: { name, type: 'sleep', params: { ms: prng.int(0, 8000) }, dependsOn: [upstream.name], shards, concurrencyPolicy: policy, pool: prng.pick(POOLS), timeoutSeconds: 30 },
    });
  }
  const workers = POOLS.flatMap((pool, p) => Array.from({ length: prng.int(1, 2) }, (_, i) => ({ name: `w${p}${i}`, pool, concurrency: prng.int(3, 6) })));
  const dispatchers = Array.from({ length: prng.int(1, 3) }, (_, i) => `d${i}`);
  const events: SimEvent[] = [];
  const free = tasks.filter((t) => !t.hasDependants && !t.upstream);
  for (let i = prng.int(3, 12); i > 0; i--) {
    const at = prng.int(1000, activeMs - 1000);
    const kinds = ['crash-worker', 'stop-worker', 'crash-dispatcher', 'vanish-dispatcher', 'freeze-dispatcher', 'trigger', 'suspend', 'change-pool', 'delete', 'cancel-a-run', 'fault-burst'] as const;
    // appended only when asked for, so that every other world draws what it always drew
    const kind = prng.pick(workerFreezes ? [...kinds, 'freeze-worker' as const, 'freeze-worker' as const] : kinds);
    if (kind === 'crash-worker' || kind === 'stop-worker') events.push({ at, kind, worker: prng.pick(workers).name, downMs: prng.int(0, 25_000) });
    else if (kind === 'crash-dispatcher' || kind === 'vanish-dispatcher') events.push({ at, kind, dispatcher: prng.pick(dispatchers), downMs: prng.int(0, 30_000) });
    else if (kind === 'freeze-worker') events.push({ at, kind, worker: prng.pick(workers).name, forMs: prng.pick([3000, 10_000, 17_000, 20_000, 25_000, 40_000]) });
    else if (kind === 'freeze-dispatcher') events.push({ at, kind, dispatcher: prng.pick(dispatchers), forMs: prng.pick([1000, 3000, 6000, 15_000, 40_000]) });
    else if (kind === 'suspend') events.push({ at, kind, task: prng.pick(tasks.filter((t) => t.schedule)).name, forMs: prng.int(5_000, 60_000) });
    else if (kind === 'cancel-a-run' || kind === 'fault-burst') events.push(kind === 'fault-burst' ? { at, kind, forMs: prng.int(2_000, 20_000) } : { at, kind });
    else if (kind === 'change-pool') events.push({ at, kind, task: prng.pick(tasks).name });
    else if (free.length > 0) events.push({ at, kind, task: prng.pick(free).name });
  }
  events.sort((a, b) => a.at - b.at);
  return { dispatchers, tasks, workers, events };
}
