import { Command } from 'commander';
import { apiClient, type ApiClient } from '../api-client.ts';
import { resolveTarget, taskName, type PluginTarget, type TargetFlags } from './target.ts';

interface RunRow {
  id: string;
  status: string;
  trigger: string;
  attempt?: number;
  shard?: number;
  scheduledTime?: string;
  startedAt?: string | null;
  finishedAt?: string | null;
}

type Out = (text: string) => void;

const path = (parts: string[], query: Record<string, string | number | undefined> = {}): string => {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined) search.set(key, String(value));
  const text = search.toString();
  return `/api/${parts.map(encodeURIComponent).join('/')}${text ? `?${text}` : ''}`;
};

/** Columns padded as kubectl prints them (two spaces between), upper-case headers. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  return [header, ...rows].map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('   ').trimEnd()).join('\n');
}

function chunkText(entry: unknown): string {
  if (typeof entry === 'string') return entry;
  return (entry as { chunk?: string } | null)?.chunk ?? '';
}

/** The `kubectl hourglass` command tree; `connect` resolves the target once the flags are parsed. */
export function pluginProgram(out: Out, connect: (flags: TargetFlags) => { target: PluginTarget; client: ApiClient } = defaultConnect): Command {
  const program = new Command('kubectl hourglass')
    .description('Hourglass runs from kubectl: the runs of a ScheduledTask, their logs, and manual triggers, through the Hourglass REST API')
    .option('--kubeconfig <file>', 'kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context (default: the current context)')
    .option('-n, --namespace <namespace>', 'namespace of the ScheduledTask (default: the context\'s namespace)')
    .option('--api-url <url>', `Hourglass REST API base URL (default: $HOURGLASS_API_URL, then the hourglass.dev/api extension of the context's cluster)`)
    .option('--api-key <key>', 'API key (default: $HOURGLASS_API_KEY)')
    .showHelpAfterError();
  const session = () => connect(program.opts<TargetFlags>());

  program
    .command('runs <task>')
    .description('the runs of st/NAME, newest first')
    .option('--limit <n>', 'how many', '20')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (reference: string, options: { limit: string; output: string }) => {
      const { target, client } = session();
      const result = await client.get<{ items: RunRow[] }>(path(['tasks', taskName(reference), 'runs'], { namespace: target.namespace, limit: Number(options.limit) }));
      if (options.output === 'json') return out(`${JSON.stringify(result.items, null, 2)}\n`);
      const rows = result.items.map((r) => [r.id, r.status, r.trigger, String(r.shard ?? 0), r.scheduledTime ?? '', r.finishedAt ?? '']);
      out(`${rows.length === 0 ? `No runs of ${target.namespace}/${taskName(reference)}.` : table(['RUN', 'STATUS', 'TRIGGER', 'SHARD', 'SCHEDULED', 'FINISHED'], rows)}\n`);
    });

  program
    .command('logs <run>')
    .description('the log of a run; -f follows it until the run finishes')
    .option('-f, --follow', 'keep streaming until the run ends')
    .action(async (run: string, options: { follow?: boolean }) => {
      const { client } = session();
      if (!options.follow) {
        const logs = await client.get<{ items: unknown[] }>(path(['task-runs', run, 'logs']));
        return out(logs.items.map(chunkText).join(''));
      }
      for await (const event of client.events(path(['task-runs', run, 'logs'], { follow: 'true' }))) {
        if (event.event === 'end') return;
        if (event.event === 'error') throw new Error(`log stream: ${typeof event.data === 'string' ? event.data : JSON.stringify(event.data)}`);
        out(chunkText(event.data));
      }
    });

  program
    .command('trigger <task>')
    .description('run st/NAME now (every shard); prints the run')
    .action(async (reference: string) => {
      const { target, client } = session();
      const run = await client.post<RunRow>(path(['tasks', taskName(reference), 'trigger'], { namespace: target.namespace }));
      out(`run ${run.id} of ${target.namespace}/${taskName(reference)} created (${run.status})\n`);
    });
  return program;
}

function defaultConnect(flags: TargetFlags): { target: PluginTarget; client: ApiClient } {
  const target = resolveTarget(flags);
  return { target, client: apiClient({ baseUrl: target.apiUrl, ...(target.apiKey ? { apiKey: target.apiKey } : {}) }) };
}
