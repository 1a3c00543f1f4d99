import type { Api } from '../support/processes.ts';

/**
 * The load of a chaos run: many tasks firing every second, of a few kinds, plus a stream of manual
 * triggers through the REST API. Shell tasks append "runId/attempt" to a journal as they start, so that
 * an attempt executed twice shows up as a repeated line (the database alone could never show that), and
 * "done runId/attempt" once their work succeeded, so that a successful execution the database records as
 * failed (and retries) shows up too. Sharded upstream tasks with on-demand dependants exercise concurrent
 * shard completions.
 */
export interface LoadPlan {
  /** scheduled tasks in all */
  tasks: number;
  /** manual triggers per second */
  triggersPerSecond: number;
  journal: string;
}

export interface CreatedLoad {
  scheduled: string[];
  onDemand: string[];
  /** scheduled tasks of the kinds suspend/resume and pool changes act on (instant, catchUp All, 3 s runs) */
  movable: string[];
  /** upstream task id -> its dependant's id */
  dependants: Map<string, string>;
}

/** the invariants read the whole history: retention must not prune it during the run */
// the most a spec may keep (SPEC_LIMITS): far more than one task fires in the longest chaos run, so retention deletes nothing the invariants read
const KEEP_ALL = { successfulRunsLimit: 10_000, failedRunsLimit: 10_000 };
const RETRY = { limit: 2, backoff: { initialSeconds: 1, factor: 2, maxSeconds: 4, jitter: 0 } };

/** a shell task that journals its start, works `seconds`, and journals its success */
function journaled(journal: string, seconds: number): Record<string, unknown> {
  const stamp = `"$HOURGLASS_RUN_ID/$HOURGLASS_ATTEMPT $PPID $(date +%T.%N)"`;
  return { type: 'shell', shell: { command: ['sh', '-c', `echo ${stamp} >> '${journal}'; sleep ${seconds} && echo "done "${stamp} >> '${journal}'`] } };
}

/** kinds of scheduled task, by i % 20: mostly instant noop runs, some shell, some that fail or take seconds */
const MOVABLE = new Set([0, 5, 9]);

function taskBody(i: number, journal: string): Record<string, unknown> {
  const base = { name: `chaos-${i}`, schedule: '@every 1s', retry: RETRY, timeoutSeconds: 20, history: KEEP_ALL };
  switch (i % 20) {
    case 1:
    case 11:
      return { ...base, ...journaled(journal, 1) };
    case 7:
      // outcomes that may be delayed behind the worker's heartbeats for longer
      return { ...base, ...journaled(journal, 3) };
    case 13:
      // longer than worker.drain_timeout_seconds: a rolling drain interrupts it
      return { ...base, schedule: '@every 10s', ...journaled(journal, 8) };
    case 9:
      // a resumed task must not take its suspension for downtime and fire what it skipped
      return { ...base, type: 'noop', params: {}, catchUp: 'All' };
    case 3:
      // fails every attempt: exercises retries and their limit
      return { ...base, type: 'noop', params: { fail: 'chaos: failing on purpose' }, retry: { ...RETRY, limit: 1 } };
    case 5:
      // long enough to be running when its worker is killed
      return { ...base, type: 'noop', params: { sleepMs: 3000 } };
    default:
      return { ...base, type: 'noop', params: {} };
  }
}

async function create(client: Api, body: Record<string, unknown>): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    const res = await client.post('/api/tasks', body).catch((error: Error) => ({ status: 0, body: error.message }));
    if (res.status === 201) return res.body.id as string;
    if (attempt >= 5) throw new Error(`creating ${String(body.name)}: ${res.status} ${JSON.stringify(res.body)}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** sharded upstream tasks, each with an on-demand dependant: shards finish at once on different workers */
const UPSTREAMS = 2;
const SHARDS = 4;

async function createDependencies(client: Api): Promise<Map<string, string>> {
  const dependants = new Map<string, string>();
  for (let k = 0; k < UPSTREAMS; k++) {
    const name = `chaos-upstream-${k}`;
    const up = await create(client, { name, type: 'noop', params: { sleepMs: 300 }, schedule: '@every 2s', shards: SHARDS, retry: RETRY, history: KEEP_ALL });
    const down = await create(client, { name: `chaos-dependant-${k}`, type: 'noop', params: {}, dependsOn: [name], retry: RETRY, history: KEEP_ALL });
    dependants.set(up, down);
  }
  return dependants;
}

export async function createLoad(client: Api, plan: LoadPlan): Promise<CreatedLoad> {
  const scheduled: string[] = [];
  const movable: string[] = [];
  for (let i = 0; i < plan.tasks; i += 20) {
    const batch = Array.from({ length: Math.min(20, plan.tasks - i) }, (_, k) => create(client, taskBody(i + k, plan.journal)));
    const ids = await Promise.all(batch);
    ids.forEach((id, k) => MOVABLE.has((i + k) % 20) && movable.push(id));
    scheduled.push(...ids);
  }
  const dependants = await createDependencies(client);
  const onDemand = [
    await create(client, { name: 'chaos-manual-noop', type: 'noop', params: {}, retry: RETRY, history: KEEP_ALL }),
    await create(client, {
      name: 'chaos-manual-shell',
      type: 'shell',
      shell: { command: ['sh', '-c', `echo "$HOURGLASS_RUN_ID/$HOURGLASS_ATTEMPT $PPID $(date +%T.%N)" >> '${plan.journal}'`] },
      retry: RETRY,
      history: KEEP_ALL,
    }),
  ];
  return { scheduled, onDemand, movable, dependants };
}

/** Manual triggers at a steady rate; remembers every run the API acknowledged with 201. */
export class TriggerStream {
  readonly acknowledged: string[] = [];
  refused = 0;
  #timer: NodeJS.Timeout | undefined;
  #inFlight = new Set<Promise<void>>();
  #n = 0;

  start(client: Api, taskIds: string[], perSecond: number): void {
    if (perSecond <= 0 || taskIds.length === 0) return;
    this.#timer = setInterval(() => {
      const taskId = taskIds[this.#n++ % taskIds.length] as string;
      const call = client.post(`/api/tasks/${taskId}/trigger`).then(
        (res) => {
          if (res.status === 201 && typeof res.body?.id === 'string') this.acknowledged.push(res.body.id);
          else this.refused++;
        },
        () => {
          this.refused++;
        },
      );
      this.#inFlight.add(call);
      void call.finally(() => this.#inFlight.delete(call));
    }, 1000 / perSecond);
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await Promise.all(this.#inFlight);
  }
}
