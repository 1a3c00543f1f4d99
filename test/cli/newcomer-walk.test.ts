import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { skipUnless } from '../support/services.ts';
import { tracked, useE2eWorld, type FailureFlag } from '../support/processes.ts';
import { cliFor, json, show, type CliResult } from './cli-support.ts';
import { ADMIN_KEY, startSystem } from './system-under-test.ts';

/** A newcomer's first hour against a real `scheduler --mode all` (postgres, API keys on): what stopped them. */
describe('a newcomer walks the CLI and the API', { skip: await skipUnless('postgres') }, () => {
  const flag: FailureFlag = { failed: false };
  const world = useE2eWorld(flag);
  let url: string;
  let cli: ReturnType<typeof cliFor>;
  before(tracked(flag, async () => {
    ({ url } = await startSystem(world, 'all-newcomer'));
    cli = cliFor(url, { SCHEDULER_API_KEY: ADMIN_KEY });
  }));
  const ok = async (args: string[]): Promise<CliResult> => {
    const result = await cli(args);
    assert.equal(result.code, 0, `${args.join(' ')}: ${show(result)}`);
    return result;
  };
  const createTask = async (name: string, body: Record<string, unknown>) => {
    const file = path.join(world.tmp.dir, `${name}.json`);
    writeFileSync(file, JSON.stringify({ name, type: 'shell', ...body }));
    return json(await ok(['task', 'create', '-f', file, '-o', 'json']));
  };

  it('task trigger --follow follows the run through its retries to the final attempt', tracked(flag, async () => {
    const marker = path.join(world.shared.dir, 'second-attempt');
    // fails the first time, succeeds the second
    await createTask('nc-flaky', {
      shell: { command: ['sh', '-c', `if [ -f ${marker} ]; then echo second; else touch ${marker}; echo first; exit 1; fi`] },
      retry: { limit: 2, backoff: { initialSeconds: 0.2, factor: 1, maxSeconds: 1, jitter: 0 } },
    });
    const followed = await cli(['task', 'trigger', 'nc-flaky', '--follow']);
    assert.equal(followed.code, 0, `the retry succeeded: ${show(followed)}`);
    assert.equal(followed.stdout, 'first\nsecond\n');
    assert.match(followed.stderr, /\(attempt 1\) failed; following its retry: run \d+ \(attempt 2\)/);
    assert.match(followed.stderr, /succeeded\n$/);

    // out of retries: the exit code is the final attempt's, after every attempt ran
    await createTask('nc-doomed', { shell: { command: ['sh', '-c', 'exit 3'] }, retry: { limit: 1, backoff: { initialSeconds: 0.2, factor: 1, maxSeconds: 1, jitter: 0 } } });
    const waited = await cli(['task', 'trigger', 'nc-doomed', '--wait', '-o', 'json']);
    assert.equal(waited.code, 7, show(waited));
    assert.equal(json(waited).attempt, 2);
    assert.equal(json(waited).status, 'failed');
  }));

  it('GET /api lists the resources (no credential needed), each with its methods', tracked(flag, async () => {
    const response = await fetch(`${url}/api`);
    assert.equal(response.status, 200);
    const index = (await response.json()) as { docs: string; resources: Array<{ path: string; methods: string[] }> };
    const paths = index.resources.map((r) => r.path);
    for (const expected of ['/api/tasks', '/api/task-runs', '/api/workers', '/api/pools', '/api/system']) assert.ok(paths.includes(expected), `${expected} in ${paths.join(', ')}`);
    assert.deepEqual(index.resources.find((r) => r.path === '/api/tasks')?.methods, ['DELETE', 'GET', 'PATCH', 'POST', 'PUT']);
    assert.equal(index.docs, '/api/docs');
    assert.equal((await fetch(`${url}${index.docs}`)).status, 200, 'the docs it points to are served');
  }));

  it('a dependsOn naming no task and a cron that never fires are accepted with warnings: in the response, in apply and in lists', tracked(flag, async () => {
    const headers = { 'content-type': 'application/json', 'x-api-key': ADMIN_KEY };
    const response = await fetch(`${url}/api/tasks`, { method: 'POST', headers, body: JSON.stringify({ name: 'nc-orphan', type: 'shell', shell: { command: ['true'] }, dependsOn: ['nc-nowhere'] }) });
    assert.equal(response.status, 201);
    const created = (await response.json()) as { warnings?: string[] };
    assert.match(created.warnings?.join('\n') ?? '', /dependsOn names "nc-nowhere", which does not exist/);

    const file = path.join(world.tmp.dir, 'never.yaml');
    writeFileSync(file, 'apiVersion: scheduling.hourglass.dev/v1alpha1\nkind: ScheduledTask\nmetadata:\n  name: nc-never\nspec:\n  type: shell\n  shell:\n    command: ["true"]\n  schedule: "0 0 30 2 *"\n');
    const dry = await ok(['apply', '-f', file, '--dry-run']);
    assert.match(dry.stderr, /^warning: scheduledtask\/nc-never: schedule "0 0 30 2 \*" never fires/m, 'the dry run warns the same');
    const applied = await ok(['apply', '-f', file]);
    assert.equal(applied.stdout, 'scheduledtask/nc-never created\n');
    assert.match(applied.stderr, /^warning: scheduledtask\/nc-never: schedule "0 0 30 2 \*" never fires/m);

    const listed = await ok(['task', 'list']);
    assert.match(listed.stdout, /WARNINGS/);
    assert.match(listed.stdout, /^nc-never .*never fires/m);
    assert.match(listed.stdout, /^nc-orphan .*dependsOn names "nc-nowhere"/m);
    const asJson = json(await ok(['task', 'list', '-o', 'json']));
    assert.equal(asJson.find((t: { name: string }) => t.name === 'nc-flaky')?.warnings, undefined, 'a sound task carries no warnings');

    // the warning goes away once the dependency exists
    await createTask('nc-nowhere', { shell: { command: ['true'] } });
    assert.equal(json(await ok(['task', 'get', 'nc-orphan', '-o', 'json'])).warnings, undefined);
  }));

  it("a deleted task's history stays readable: GET /api/task-runs?task=NAME and /api/tasks/{id}/runs", tracked(flag, async () => {
    const task = await createTask('nc-gone', { shell: { command: ['sh', '-c', 'echo bye'] } });
    const run = json(await ok(['task', 'trigger', 'nc-gone', '--wait', '-o', 'json']));
    assert.equal(run.status, 'succeeded');
    await ok(['task', 'delete', 'nc-gone']);
    const headers = { 'x-api-key': ADMIN_KEY };
    for (const path of ['/api/task-runs?task=nc-gone', `/api/tasks/${task.id}/runs`, '/api/tasks/nc-gone/runs']) {
      const response = await fetch(`${url}${path}`, { headers });
      assert.equal(response.status, 200, `${path}: ${await response.clone().text()}`);
      const { items } = (await response.json()) as { items: Array<{ id: string }> };
      assert.deepEqual(items.map((r) => String(r.id)), [String(run.id)], path);
    }
    const viaCli = json(await ok(['run', 'list', '--task', 'nc-gone', '-o', 'json']));
    assert.deepEqual(viaCli.map((r: { id: string }) => String(r.id)), [String(run.id)]);
    assert.equal((await fetch(`${url}/api/task-runs?task=nc-never-existed`, { headers })).status, 404);
  }));

  it('error wording: a missing field "is required", a mistyped time zone gets "did you mean"', tracked(flag, async () => {
    const file = path.join(world.tmp.dir, 'nameless.json');
    writeFileSync(file, JSON.stringify({ type: 'shell', shell: { command: ['true'] }, timeZone: 'Asia/Shangai' }));
    const refused = await cli(['task', 'create', '-f', file]);
    assert.equal(refused.code, 1, show(refused));
    assert.match(refused.stderr, /name: is required/);
    assert.doesNotMatch(refused.stderr, /received undefined/);
    assert.match(refused.stderr, /timeZone: unknown IANA time zone "Asia\/Shangai"; did you mean "Asia\/Shanghai"\?/);
  }));
});
