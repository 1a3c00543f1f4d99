import { Option, type Command } from 'commander';
import { age, type Column } from '../output.ts';
import { collectPages, examples, resourcePath, type CliContext } from './context.ts';

type Row = Record<string, unknown>;

const WORKER_COLUMNS: Column[] = [
  'id', 'pool', 'status',
  { header: 'ACTIVE', value: (w) => `${String(w.activeRuns ?? 0)}/${String(w.concurrency ?? '-')}` },
  { header: 'TYPES', value: (w) => (Array.isArray(w.taskTypes) ? w.taskTypes.join(',') : w.taskTypes) },
  { header: 'HEARTBEAT', value: (w) => age(w.lastHeartbeatAt) },
  { header: 'AGE', value: (w) => age(w.startedAt) },
  'version',
];

export function registerWorkerCommands(program: Command, ctx: CliContext): void {
  const worker = examples(
    program.command('worker').description('inspect and drain workers'),
    'scheduler-cli worker status',
    'scheduler-cli worker drain worker-001',
  );

  examples(
    worker.command('list').description('list workers').addOption(new Option('--status <status>', 'only workers in this state').choices(['ALIVE', 'DRAINING', 'DOWN', 'STOPPED'])),
    'scheduler-cli worker list',
    'scheduler-cli worker list --status ALIVE -o json',
  ).action(async (flags: { status?: string }) => {
    const path = `/api/workers${flags.status ? `?status=${flags.status}` : ''}`;
    ctx.out().list(await collectPages<Row>(ctx.client(), path, 10_000), WORKER_COLUMNS);
  });

  examples(
    worker.command('status [id]').description('the fleet at a glance (workers per state, capacity in use), or the statistics of one worker'),
    'scheduler-cli worker status',
    'scheduler-cli worker status worker-001 -o json',
  ).action(async (id: string | undefined) => {
    const client = ctx.client();
    if (id) {
      ctx.out().item(await client.get(resourcePath('workers', id, '/stats')));
      return;
    }
    const workers = await collectPages<Row>(client, '/api/workers', 10_000);
    const count = (status: string) => workers.filter((w) => w.status === status).length;
    const live = workers.filter((w) => w.status !== 'DOWN' && w.status !== 'STOPPED');
    const sum = (key: string) => live.reduce((total, w) => total + Number(w[key] ?? 0), 0);
    const summary = {
      workers: workers.length, alive: count('ALIVE'), draining: count('DRAINING'), down: count('DOWN'), stopped: count('STOPPED'),
      activeRuns: sum('activeRuns'), capacity: sum('concurrency'),
      pools: [...new Set(live.map((w) => String(w.pool)))].sort(),
    };
    const out = ctx.out();
    if (out.format !== 'table') return out.item({ ...summary, items: workers });
    out.raw(`${summary.alive} alive, ${summary.draining} draining, ${summary.down} down; ${summary.activeRuns}/${summary.capacity} run slots in use; pools: ${summary.pools.join(', ') || '-'}\n\n`);
    out.list(workers, WORKER_COLUMNS);
  });

  examples(worker.command('get <id>').description('show one worker'), 'scheduler-cli worker get worker-001').action(async (id: string) => {
    ctx.out().item(await ctx.client().get(resourcePath('workers', id)));
  });

  examples(
    worker.command('drain <id>').description('let a worker finish its runs and take no new ones, then stop'),
    'scheduler-cli worker drain worker-001',
  ).action(async (id: string) => {
    const value = await ctx.client().post<Row>(resourcePath('workers', id, '/drain'));
    ctx.out().message(`worker ${id} ${String(value?.status ?? 'DRAINING').toLowerCase()}`, value);
  });
}
