import type { Command } from 'commander';
import { EXIT } from '../exit-codes.ts';
import { examples, type CliContext } from './context.ts';

type Row = Record<string, unknown>;

export function registerSystemCommands(program: Command, ctx: CliContext): void {
  const system = examples(program.command('system').description('the running system: version, health, statistics, configuration reload'), 'scheduler-cli system health');
  const show = (verb: string, path: string, text: string) =>
    examples(system.command(verb).description(text), `scheduler-cli system ${verb}`, `scheduler-cli system ${verb} -o json`).action(async () => {
      ctx.out().item(await ctx.client().get<Row>(path));
    });
  show('info', '/api/system/info', 'version, environment, queue and database of the API');
  examples(system.command('health').description('health of each component (database, broker, dispatcher, workers); exit 1 when one is unhealthy, with the reason'), 'scheduler-cli system health', 'scheduler-cli system health -o json').action(async () => {
    // 503 carries the same body, naming the unhealthy component and why: print it rather than "HTTP 503"
    const { status, body } = await ctx.client().request<Row>('GET', '/api/system/health/detailed', undefined, { acceptStatus: [503] });
    ctx.out().item(body);
    if (status !== 200) process.exitCode = EXIT.error;
  });
  show('stats', '/api/system/stats', 'counts of tasks, runs and workers');
  examples(system.command('reload-config').description('ask the API to reload the configuration settings that support it'), 'scheduler-cli system reload-config').action(async () => {
    ctx.out().item(await ctx.client().post<Row>('/api/system/reload-config'));
  });
}
