import type { Command } from 'commander';
import type { Column } from '../output.ts';
import { collectPages, examples, resourcePath, type CliContext } from './context.ts';

type Row = Record<string, unknown>;

const spec = (p: Row) => (p.spec ?? {}) as Row;

const POOL_COLUMNS: Column[] = [
  'name',
  { header: 'TYPES', value: (p) => (spec(p).taskTypes as string[] | undefined)?.join(',') },
  { header: 'CONCURRENCY', value: (p) => spec(p).concurrency },
  { header: 'REPLICAS', value: (p) => { const r = spec(p).replicas as { min?: number; max?: number } | undefined; return r ? `${r.min ?? '-'}..${r.max ?? '-'}` : undefined; } },
  { header: 'WORKERS', value: (p) => p.workersAlive },
  { header: 'ACTIVE', value: (p) => p.activeRuns },
  { header: 'BACKLOG', value: (p) => p.backlog },
  { header: 'DECLARED', value: (p) => p.declared },
];

export function registerPoolCommands(program: Command, ctx: CliContext): void {
  const pool = examples(program.command('pool').description('worker pools'), 'scheduler-cli pool list');
  examples(pool.command('list').description('list worker pools'), 'scheduler-cli pool list', 'scheduler-cli pool list -o yaml').action(async () => {
    ctx.out().list(await collectPages<Row>(ctx.client(), '/api/pools', 10_000), POOL_COLUMNS);
  });
  examples(pool.command('get <name>').description('show one worker pool'), 'scheduler-cli pool get default').action(async (name: string) => {
    ctx.out().item(await ctx.client().get(resourcePath('pools', name)));
  });
}
