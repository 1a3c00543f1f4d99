import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { parseManifest, taskInputFromManifest, type Manifest } from '../../core/model/index.ts';
import { skipUnless } from '../support/services.ts';
import { REPO_ROOT, tracked, useE2eWorld, type FailureFlag } from '../support/processes.ts';
import { cliFor, json, show, type CliResult } from './cli-support.ts';
import { ADMIN_KEY, startSystem } from './system-under-test.ts';

const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures', 'manifests');
const EXAMPLES = path.join(REPO_ROOT, 'manifests', 'examples');

/** Every ScheduledTask / WorkerPool document under a folder, parsed the way the operator parses them. */
function manifestsIn(folder: string): Manifest[] {
  const out: Manifest[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (/\.(ya?ml|json)$/.test(entry.name)) {
        for (const doc of parseAllDocuments(readFileSync(full, 'utf8'))) {
          const value = doc.toJS() as { kind?: string } | null;
          if (value && (value.kind === 'ScheduledTask' || value.kind === 'WorkerPool')) out.push(parseManifest(value));
        }
      }
    }
  };
  walk(folder);
  return out;
}

const exampleFiles = existsSync(EXAMPLES) ? readdirSync(EXAMPLES).filter((f) => /\.ya?ml$/.test(f)) : [];

describe('scheduler-cli apply / delete -f: the kubectl manifests on the compose path', { skip: await skipUnless('postgres') }, () => {
  const flag: FailureFlag = { failed: false };
  const world = useE2eWorld(flag);
  let cli: ReturnType<typeof cliFor>;
  before(tracked(flag, async () => {
    const { url } = await startSystem(world, 'all-apply');
    cli = cliFor(url, { SCHEDULER_API_KEY: ADMIN_KEY });
  }));
  const ok = async (args: string[], input?: string): Promise<CliResult> => {
    const result = await cli(args, input === undefined ? {} : { input });
    assert.equal(result.code, 0, `${args.join(' ')}: ${show(result)}`);
    return result;
  };

  /** The stored task (or pool) holds exactly what parseManifest made of the document. */
  const assertStoredAsParsed = async (manifests: Manifest[]) => {
    for (const manifest of manifests) {
      if (manifest.kind === 'ScheduledTask') {
        const stored = json(await ok(['task', 'get', manifest.name, '-o', 'json']));
        for (const [key, value] of Object.entries(taskInputFromManifest(manifest))) assert.deepEqual(stored[key], value, `${manifest.name}.${key}`);
        assert.equal(stored.source, 'api');
      } else {
        const stored = json(await ok(['pool', 'get', manifest.name, '-o', 'json']));
        assert.deepEqual(stored.spec, manifest.spec, `pool ${manifest.name}`);
        assert.deepEqual(stored.labels, manifest.labels);
      }
    }
  };

  it('apply -f DIR -R creates every document, as parseManifest reads it; a second apply changes nothing', tracked(flag, async () => {
    const manifests = manifestsIn(FIXTURES);
    assert.equal(manifests.length, 3);
    const dry = json(await ok(['apply', '-f', FIXTURES, '-R', '--dry-run', '-o', 'json']));
    assert.deepEqual(dry.map((o: { name: string; action: string }) => `${o.name}:${o.action}`), ['cli-pool:created', 'cli-nightly-report:created', 'cli-ping:created'], 'pools first');
    assert.deepEqual(json(await ok(['task', 'list', '-o', 'json'])), [], 'a dry run creates nothing');

    const applied = await ok(['apply', '-f', FIXTURES, '-R']);
    assert.equal(applied.stdout, 'workerpool/cli-pool created\nscheduledtask/cli-nightly-report created\nscheduledtask/cli-ping created\n');
    await assertStoredAsParsed(manifests);
    const again = await ok(['apply', '-f', FIXTURES, '-R']);
    assert.equal(again.stdout, 'workerpool/cli-pool unchanged\nscheduledtask/cli-nightly-report unchanged\nscheduledtask/cli-ping unchanged\n');
    // without -R the nested folder is not read
    assert.deepEqual(json(await ok(['apply', '-f', FIXTURES, '-o', 'json'])).map((o: { name: string }) => o.name), ['cli-nightly-report', 'cli-ping']);
  }));

  it('--dry-run shows a field diff and changes nothing; apply -f - reads stdin and configures', tracked(flag, async () => {
    const changed = readFileSync(path.join(FIXTURES, 'tasks.yaml'), 'utf8').replace('"30 2 * * *"', '"45 3 * * *"').replace('team: data', 'team: ops').replace('limit: 2', 'limit: 5');
    const dry = await ok(['apply', '-f', '-', '--dry-run'], changed);
    assert.equal(
      dry.stdout,
      [
        'scheduledtask/cli-nightly-report configured (dry run)',
        '    metadata.labels.team: "data" -> "ops"',
        '    spec.schedule: "30 2 * * *" -> "45 3 * * *"',
        '    spec.retry.limit: 2 -> 5',
        'scheduledtask/cli-ping unchanged (dry run)',
        '',
      ].join('\n'),
    );
    assert.equal(json(await ok(['task', 'get', 'cli-nightly-report', '-o', 'json'])).schedule, '30 2 * * *', 'the dry run changed nothing');
    const applied = json(await ok(['apply', '-f', '-', '-o', 'json'], changed));
    assert.equal(applied[0].action, 'configured');
    assert.deepEqual(applied[0].changes.map((c: { path: string }) => c.path), ['metadata.labels.team', 'spec.schedule', 'spec.retry.limit']);
    await assertStoredAsParsed(parseAllDocuments(changed).map((d) => parseManifest(d.toJS())));
  }));

  it('invalid manifests name the file, the line and the field, and nothing is applied', tracked(flag, async () => {
    const file = path.join(world.tmp.dir, 'invalid.yaml');
    writeFileSync(
      file,
      [
        'apiVersion: scheduling.hourglass.dev/v1alpha1',
        'kind: ScheduledTask',
        'metadata:',
        '  name: cli-invalid',
        'spec:',
        '  type: shell',
        '  shell:',
        '    command: [echo, hi]',
        '  schedule: "*/5 * * * *"',
        '  concurrencyPolicy: Sometimes',
        '  retry:',
        '    limit: lots',
        '---',
        'apiVersion: scheduling.hourglass.dev/v1alpha1',
        'kind: WorkerPool',
        'metadata:',
        '  name: Not_A_Name',
        '',
      ].join('\n'),
    );
    const invalid = await cli(['apply', '-f', file]);
    assert.equal(invalid.code, 1, show(invalid));
    assert.match(invalid.stderr, /invalid\.yaml:10:3: spec\.concurrencyPolicy: /);
    assert.match(invalid.stderr, /invalid\.yaml:12:5: spec\.retry\.limit: /);
    assert.match(invalid.stderr, /invalid\.yaml:17:3: metadata\.name: /);
    // a schedule only the server's compiler refuses: the API's field problem is pointed at the line too
    writeFileSync(file, 'apiVersion: scheduling.hourglass.dev/v1alpha1\nkind: ScheduledTask\nmetadata:\n  name: cli-bad-cron\nspec:\n  type: shell\n  shell:\n    command: [echo]\n  schedule: "61 * * * *"\n');
    const refused = await cli(['apply', '-f', file]);
    assert.equal(refused.code, 1, show(refused));
    assert.match(refused.stderr, /invalid\.yaml:9:3: spec\.schedule: /);
    writeFileSync(file, 'apiVersion: scheduling.hourglass.dev/v1alpha1\nkind: ScheduledTask\nmetadata:\n  name: [unclosed\n');
    const yaml = await cli(['apply', '-f', file]);
    assert.equal(yaml.code, 1, show(yaml));
    assert.match(yaml.stderr, /invalid\.yaml:\d+:\d+: /);
    const names = json(await ok(['task', 'list', '-o', 'json'])).map((t: { name: string }) => t.name);
    assert.ok(!names.includes('cli-invalid') && !names.includes('cli-bad-cron'), names.join(','));
    const missing = await cli(['apply', '-f', path.join(world.tmp.dir, 'nope.yaml')]);
    assert.equal(missing.code, 1, show(missing));
    assert.match(missing.stderr, /nope\.yaml: no such file or directory/);
  }));

  it('--dry-run runs the real validation, and a file with one bad document applies nothing (all or nothing)', tracked(flag, async () => {
    const file = path.join(world.tmp.dir, 'mixed.yaml');
    const task = (name: string, extra: string) =>
      `apiVersion: scheduling.hourglass.dev/v1alpha1\nkind: ScheduledTask\nmetadata:\n  name: ${name}\nspec:\n  type: shell\n  shell:\n    command: [echo]\n${extra}`;
    writeFileSync(file, [task('cli-good', '  schedule: "0 3 * * *"\n'), task('cli-bad-zone', '  schedule: "0 3 * * *"\n  timeZone: Mars/Olympus\n'), task('cli-bad-minute', '  schedule: "61 * * * *"\n')].join('---\n'));
    for (const args of [['--dry-run'], []]) {
      const refused = await cli(['apply', '-f', file, ...args]);
      assert.equal(refused.code, 1, show(refused));
      assert.match(refused.stderr, /nothing was applied/);
      assert.match(refused.stderr, /mixed\.yaml:20:3: spec\.timeZone: .*Mars\/Olympus/);
      assert.match(refused.stderr, /mixed\.yaml:30:3: spec\.schedule: .*61/);
      assert.equal(refused.stdout, '', 'no document is reported as applied');
    }
    const names = json(await ok(['task', 'list', '-o', 'json'])).map((t: { name: string }) => t.name);
    assert.ok(!names.includes('cli-good'), `the good document was applied alone: ${names.join(',')}`);
  }));

  it('delete -f removes what the manifests name; a second delete is "not found" (exit 3) unless --ignore-not-found', tracked(flag, async () => {
    const deleted = await ok(['delete', '-f', FIXTURES, '-R']);
    assert.equal(deleted.stdout, 'scheduledtask/cli-nightly-report deleted\nscheduledtask/cli-ping deleted\nworkerpool/cli-pool deleted\n', 'tasks before their pool');
    assert.deepEqual(json(await ok(['task', 'list', '-o', 'json'])), []);
    const again = await cli(['delete', '-f', FIXTURES, '-R']);
    assert.equal(again.code, 3, show(again));
    await ok(['delete', '-f', FIXTURES, '-R', '--ignore-not-found']);
  }));

  it('apply -f manifests/examples stores the tasks the operator would', { skip: exampleFiles.length === 0 ? 'manifests/examples has no YAML yet' : false }, tracked(flag, async () => {
    const manifests = manifestsIn(EXAMPLES);
    assert.ok(manifests.length > 0);
    const applied = json(await ok(['apply', '-f', EXAMPLES, '-R', '-o', 'json']));
    assert.equal(applied.length, manifests.length);
    // the "default" pool is known before any is declared (tasks run in it), but declaring it creates it
    for (const outcome of applied) assert.equal(outcome.action, 'created', JSON.stringify(outcome));
    assert.deepEqual(json(await ok(['apply', '-f', EXAMPLES, '-R', '-o', 'json'])).map((o: { action: string }) => o.action), manifests.map(() => 'unchanged'));
    await assertStoredAsParsed(manifests);
    await ok(['delete', '-f', EXAMPLES, '-R']);
  }));
});
