import type { Command } from 'commander';
import { examples, type CliContext } from './context.ts';

type Row = Record<string, unknown>;

export function registerSystemCommands(program: Command, ctx: CliContext): void {
  const system = examples(program.command('system').description('the running system: version, health, statistics, configuration reload'), 'scheduler-cli system health');
  const show = (verb: string, path: string, text: string) =>
    examples(system.command(verb).description(text), `scheduler-cli system ${verb}`, `scheduler-cli system ${verb} -o json`).action(async () => {
      ctx.out().item(await ctx.client().get<Row>(path));
    });
  show('info', '/api/system/info', 'version, environment, queue and database of the API');
  show('health', '/api/system/health/detailed', 'health of each component (database, broker, dispatcher, workers)');
  show('stats', '/api/system/stats', 'counts of tasks, runs and workers');
  examples(system.command('reload-config').description('ask the API to reload the configuration settings that support it'), 'scheduler-cli system reload-config').action(async () => {
    ctx.out().item(await ctx.client().post<Row>('/api/system/reload-config'));
  });
}
