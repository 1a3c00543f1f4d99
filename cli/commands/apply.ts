import type { Command } from 'commander';
import { specWarnings } from '../../api/task-warnings.ts';
import { parseTask } from '../../core/dispatch/tasks.ts';
import { Task, taskInputFromManifest, ValidationError, WorkerPoolSpec } from '../../core/model/index.ts';
import { ApiError, type ApiClient } from '../api-client.ts';
import { fieldChanges, formatChange, type FieldChange } from '../diff.ts';
import { CliError, exitCodeOf } from '../exit-codes.ts';
import { loadManifests, locate, readInputs, type LocatedManifest } from '../manifest-files.ts';
import { collect, examples, resourcePath, type CliContext } from './context.ts';

type Row = Record<string, unknown>;
type Action = 'created' | 'configured' | 'unchanged' | 'deleted' | 'not found' | 'failed';

interface Outcome {
  kind: string;
  name: string;
  file: string;
  action: Action;
  dryRun: boolean;
  changes?: FieldChange[];
  error?: string;
  /** what the API said will keep the task from running as written */
  warnings?: string[];
}

const TASK_SPEC_KEYS = Object.keys(Task.shape.spec.shape);
const POOL_SPEC_KEYS = Object.keys(WorkerPoolSpec.shape);

/** Where a resource lives in the REST API, and the body PUT takes for it. */
function target(item: LocatedManifest): { collection: 'tasks' | 'pools'; keys: string[]; body: Row } {
  const { manifest } = item;
  // The compose path has no namespaces: metadata.namespace is ignored, as the name alone identifies a task.
  if (manifest.kind === 'ScheduledTask') {
    const { name: _name, ...body } = taskInputFromManifest(manifest);
    return { collection: 'tasks', keys: TASK_SPEC_KEYS, body };
  }
  return { collection: 'pools', keys: POOL_SPEC_KEYS, body: { labels: manifest.labels, ...manifest.spec } };
}

async function current(client: ApiClient, collection: string, name: string): Promise<Row | undefined> {
  try {
    return await client.get<Row>(resourcePath(collection, name));
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return undefined;
    throw error;
  }
}

/** The API's field problems, pointed at the manifest's lines (`schedule` is `spec.schedule` there). */
function describeFailure(error: unknown, item: LocatedManifest): string {
  if (error instanceof ApiError && error.status === 400 && error.problems.length > 0) return pointAt(error.problems, item).join('\n  ');
  return (error as Error).message;
}

function pointAt(problems: Array<{ path: string; message: string }>, item: LocatedManifest): string[] {
  return problems.map((p) => {
    const field = p.path === 'name' || p.path.startsWith('labels') ? `metadata.${p.path}` : p.path ? `spec.${p.path}` : '';
    return `${locate(item.source, field)}: ${field || '(document)'}: ${p.message}`;
  });
}

/**
 * Every task document through the API's own validation (schedule, time zone, every field) before anything
 * is sent: a dry run refuses what the real apply would, and one bad document stops the whole apply.
 */
function validateAll(items: LocatedManifest[]): void {
  const problems: string[] = [];
  for (const item of items) {
    if (item.manifest.kind !== 'ScheduledTask') continue;
    try {
      parseTask(taskInputFromManifest(item.manifest));
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      problems.push(...pointAt(error.problems, item));
    }
  }
  if (problems.length > 0) throw new CliError(`invalid manifest: nothing was applied\n  ${problems.join('\n  ')}`);
}

/** What the API would warn about, for a dry run: the same sentences, with the tasks being applied counted as existing. */
async function dryRunWarnings(client: ApiClient, item: LocatedManifest, applying: ReadonlySet<string>): Promise<Row | undefined> {
  if (item.manifest.kind !== 'ScheduledTask') return undefined;
  const spec = parseTask(taskInputFromManifest(item.manifest));
  const found = new Set<string>();
  for (const name of spec.dependsOn ?? []) if (applying.has(name) || (await current(client, 'tasks', name))) found.add(name);
  const warnings = specWarnings(spec, (name) => found.has(name), Date.now());
  return warnings.length > 0 ? { warnings } : undefined;
}

async function applyOne(client: ApiClient, item: LocatedManifest, dryRun: boolean, applying: ReadonlySet<string>): Promise<Outcome> {
  const { collection, keys, body } = target(item);
  const base = { kind: item.manifest.kind, name: item.manifest.name, file: item.source.file, dryRun, ...warningsOf(dryRun ? await dryRunWarnings(client, item, applying) : undefined) };
  const existing = await current(client, collection, item.manifest.name);
  // a pool the API knows only from its workers or tasks has never been declared: declaring it creates it
  if (!existing || (collection === 'pools' && existing.declared === false)) {
    const stored = dryRun ? undefined : await client.put<Row>(resourcePath(collection, item.manifest.name), body);
    return { ...base, action: 'created', ...warningsOf(stored) };
  }
  const changes = [
    ...fieldChanges({ labels: existing.labels ?? {} }, { labels: body.labels ?? {} }, ['labels'], 'metadata'),
    // a pool's view nests its spec; a task's view has the spec fields at the top level, like its input
    ...fieldChanges(collection === 'pools' ? ((existing.spec as Row | undefined) ?? {}) : existing, body, keys, 'spec'),
  ];
  if (changes.length === 0) return { ...base, action: 'unchanged', changes, ...warningsOf(existing) };
  const stored = dryRun ? undefined : await client.put<Row>(resourcePath(collection, item.manifest.name), body);
  return { ...base, action: 'configured', changes, ...warningsOf(stored) };
}

const warningsOf = (view: Row | undefined) => (Array.isArray(view?.warnings) ? { warnings: view.warnings as string[] } : {});

async function deleteOne(client: ApiClient, item: LocatedManifest, dryRun: boolean): Promise<Outcome> {
  const { collection } = target(item);
  const base = { kind: item.manifest.kind, name: item.manifest.name, file: item.source.file, dryRun };
  if (dryRun) return { ...base, action: (await current(client, collection, item.manifest.name)) ? 'deleted' : 'not found' };
  try {
    await client.delete(resourcePath(collection, item.manifest.name));
    return { ...base, action: 'deleted' };
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return { ...base, action: 'not found' };
    throw error;
  }
}

/** WorkerPools before the tasks that run in them; deletion goes the other way round. */
const byKind = (items: LocatedManifest[], first: 'WorkerPool' | 'ScheduledTask') =>
  [...items.filter((i) => i.manifest.kind === first), ...items.filter((i) => i.manifest.kind !== first)];

async function runAll(
  ctx: CliContext,
  items: LocatedManifest[],
  work: (client: ApiClient, item: LocatedManifest) => Promise<Outcome>,
  failOnNotFound: boolean,
): Promise<void> {
  const client = ctx.client();
  const out = ctx.out();
  const outcomes: Outcome[] = [];
  let exitCode = 0;
  for (const item of items) {
    let outcome: Outcome;
    try {
      outcome = await work(client, item);
    } catch (error) {
      // the API being unreachable or the key refused fails every document alike: stop at the first
      if (error instanceof ApiError && [0, 401, 403].includes(error.status)) throw error;
      exitCode ||= exitCodeOf(error);
      outcome = { kind: item.manifest.kind, name: item.manifest.name, file: item.source.file, action: 'failed', dryRun: false, error: describeFailure(error, item) };
    }
    if (outcome.action === 'not found' && failOnNotFound) exitCode ||= 3;
    outcomes.push(outcome);
    if (out.format === 'table') {
      const resource = `${outcome.kind.toLowerCase()}/${outcome.name}`;
      if (outcome.action === 'failed') process.stderr.write(`error: ${resource} (${outcome.file}): ${outcome.error}\n`);
      else {
        out.raw(`${resource} ${outcome.action}${outcome.dryRun ? ' (dry run)' : ''}\n`);
        for (const warning of outcome.warnings ?? []) process.stderr.write(`warning: ${resource}: ${warning}\n`);
        if (outcome.dryRun) for (const change of outcome.changes ?? []) out.raw(`    ${formatChange(change)}\n`);
      }
    }
  }
  if (out.format !== 'table') out.list(outcomes, []);
  if (exitCode) throw new CliError(`${outcomes.filter((o) => o.action === 'failed' || (failOnNotFound && o.action === 'not found')).length} of ${outcomes.length} resources failed`, exitCode);
}

export function registerApplyCommands(program: Command, ctx: CliContext, readStdin: () => string): void {
  examples(
    program
      .command('apply')
      .description('create or update ScheduledTask and WorkerPool resources from the same YAML kubectl apply takes (multi-document files, folders)')
      .requiredOption('-f, --filename <path>', 'a file, a folder of .yaml/.yml/.json files, or - for stdin (repeatable)', collect, [])
      .option('-R, --recursive', 'also read the folders inside a folder')
      .option('--dry-run', 'show what would change (created / configured with a field diff / unchanged) and change nothing'),
    'scheduler-cli apply -f manifests/examples/',
    'scheduler-cli apply -f nightly-report.yaml --dry-run',
    'kubectl kustomize overlays/prod | scheduler-cli apply -f -',
  ).action(async (flags: { filename: string[]; recursive?: boolean; dryRun?: boolean }) => {
    const items = loadManifests(readInputs(flags.filename, { recursive: flags.recursive ?? false, stdin: readStdin }));
    validateAll(items);
    const applying = new Set(items.filter((i) => i.manifest.kind === 'ScheduledTask').map((i) => i.manifest.name));
    await runAll(ctx, byKind(items, 'WorkerPool'), (client, item) => applyOne(client, item, flags.dryRun ?? false, applying), false);
  });

  examples(
    program
      .command('delete')
      .description('delete the ScheduledTask and WorkerPool resources named in manifests (run history is kept)')
      .requiredOption('-f, --filename <path>', 'a file, a folder, or - for stdin (repeatable)', collect, [])
      .option('-R, --recursive', 'also read the folders inside a folder')
      .option('--ignore-not-found', 'a resource that does not exist is not an error')
      .option('--dry-run', 'show what would be deleted and delete nothing'),
    'scheduler-cli delete -f nightly-report.yaml',
    'scheduler-cli delete -f manifests/examples/ --ignore-not-found',
  ).action(async (flags: { filename: string[]; recursive?: boolean; ignoreNotFound?: boolean; dryRun?: boolean }) => {
    const items = loadManifests(readInputs(flags.filename, { recursive: flags.recursive ?? false, stdin: readStdin }));
    await runAll(ctx, byKind(items, 'ScheduledTask'), (client, item) => deleteOne(client, item, flags.dryRun ?? false), !flags.ignoreNotFound);
  });
}
