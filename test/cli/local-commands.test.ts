import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { compileSchedule } from '../../core/schedule/index.ts';
import { CLI_BIN, cliFor, json, runBin, show } from './cli-support.ts';

// These commands need no API: an address nothing listens on proves it.
const cli = cliFor('http://127.0.0.1:9');

/** What the dispatcher computes: each next fire strictly after the previous one. */
function dispatcherFires(expression: string, zone: string, fromMs: number, count: number): string[] {
  const schedule = compileSchedule(expression, zone);
  const out: string[] = [];
  for (let t = schedule.next(fromMs); t !== undefined && out.length < count; t = schedule.next(t)) out.push(new Date(t).toISOString());
  return out;
}

describe('scheduler-cli commands that run locally', () => {
  const CASES = [
    // spring forward: 02:30 does not exist on 2026-03-08 in New York
    { expression: '30 2 * * *', zone: 'America/New_York', from: '2026-03-07T00:00:00Z', count: 4 },
    // fall back: 01:30 happens twice on 2026-11-01 in New York
    { expression: '30 1 * * *', zone: 'America/New_York', from: '2026-10-31T00:00:00Z', count: 3 },
    { expression: '0 * * * *', zone: 'Europe/Berlin', from: '2026-10-25T00:00:00Z', count: 5 },
    { expression: '@every 90m', zone: 'UTC', from: '2026-01-01T00:00:00Z', count: 3 },
    { expression: '0 0 9 * * MON-FRI', zone: 'Asia/Kolkata', from: '2026-05-01T00:00:00Z', count: 3 },
  ];
  for (const c of CASES) {
    it(`schedule preview "${c.expression}" --tz ${c.zone} matches the dispatcher`, async () => {
      const result = await cli(['schedule', 'preview', c.expression, '--tz', c.zone, '--from', c.from, '--count', String(c.count), '-o', 'json']);
      assert.equal(result.code, 0, show(result));
      const fires = json(result);
      assert.deepEqual(fires.map((f: { time: string }) => f.time), dispatcherFires(c.expression, c.zone, Date.parse(c.from), c.count));
    });
  }

  it('schedule preview shows the wall clock with its offset across a DST change', async () => {
    const result = await cli(['schedule', 'preview', '30 2 * * *', '--tz', 'America/New_York', '--from', '2026-03-07T00:00:00Z', '--count', '3']);
    assert.equal(result.code, 0, show(result));
    assert.match(result.stdout, /2026-03-07T07:30:00\.000Z\s+2026-03-07T02:30:00-05:00/);
    assert.match(result.stdout, /2026-03-09T06:30:00\.000Z\s+2026-03-09T02:30:00-04:00/);
  });

  it('schedule preview refuses a bad expression or zone as a usage error naming it', async () => {
    const badCron = await cli(['schedule', 'preview', '61 * * * *']);
    assert.equal(badCron.code, 2, show(badCron));
    assert.match(badCron.stderr, /expression: /);
    const badZone = await cli(['schedule', 'preview', '0 * * * *', '--tz', 'Mars/Olympus']);
    assert.equal(badZone.code, 2, show(badZone));
    assert.match(badZone.stderr, /--tz: /);
  });

  it('completion bash completes commands, subcommands and options', async () => {
    const script = await cli(['completion', 'bash']);
    assert.equal(script.code, 0, show(script));
    const complete = (words: string[]) =>
      new Promise<string>((resolve, reject) => {
        const program = `${script.stdout}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _scheduler_cli; echo "\${COMPREPLY[*]}"`;
        execFile('bash', ['-c', program], (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout.trim())));
      });
    assert.equal(await complete(['scheduler-cli', 'ta']), 'task');
    assert.deepEqual((await complete(['scheduler-cli', 'run', ''])).split(' ').slice(0, 6), ['list', 'get', 'logs', 'cancel', 'retry', '--version']);
    assert.match(await complete(['scheduler-cli', '-o', 'json', 'data', 'cleanup', '--']), /--older-than .*--dry-run/);
    const zsh = await cli(['completion', 'zsh']);
    assert.match(zsh.stdout, /^#compdef scheduler-cli/);
    assert.equal((await cli(['completion', 'fish'])).code, 2);
  });

  it('every command has --help with examples', async () => {
    const script = (await cli(['completion', 'bash'])).stdout;
    const paths = [...script.matchAll(/\["@([^"]*)"\]=/g)].map((m) => m[1]!.trim()).filter((p) => p !== '');
    assert.ok(paths.length > 30, `${paths.length} commands`);
    const missing: string[] = [];
    // four at a time: each is a node start
    for (let i = 0; i < paths.length; i += 4) {
      await Promise.all(
        paths.slice(i, i + 4).map(async (p) => {
          const help = await runBin(CLI_BIN, [...p.split(' '), '--help']);
          if (help.code !== 0 || !/Examples?:\n {2}\S/.test(help.stdout)) missing.push(`${p} (exit ${help.code})`);
        }),
      );
    }
    assert.deepEqual(missing, []);
  });

  it('--version prints the package version; -o with a bad format is a usage error', async () => {
    const version = await cli(['--version']);
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^\d+\.\d+\.\d+/);
    const bad = await cli(['-o', 'xml', 'schedule', 'preview', '@hourly']);
    assert.equal(bad.code, 2, show(bad));
  });

  it('--api-url without a scheme is a usage error (exit 2) showing a valid URL, not "API unreachable"', async () => {
    for (const given of ['localhost:8080', '127.0.0.1:8080', 'ftp://127.0.0.1:8080']) {
      const result = await runBin(CLI_BIN, ['--api-url', given, 'task', 'list'], { env: { SCHEDULER_API_URL: undefined } });
      assert.equal(result.code, 2, show(result));
      assert.match(result.stderr, /is not an http\(s\) URL; write it with its scheme, e\.g\. http:\/\/127\.0\.0\.1:8080/);
    }
    const fromEnv = await cliFor('localhost:8080')(['worker', 'list']);
    assert.equal(fromEnv.code, 2, show(fromEnv));
  });

  it('run list --status with an unknown value names the allowed values (exit 2), before any request', async () => {
    const result = await cli(['run', 'list', '--status', 'bogus']);
    assert.equal(result.code, 2, show(result));
    assert.match(result.stderr, /Allowed choices are pending, queued, running, succeeded, failed, timed_out, cancelled, missed, skipped/);
    assert.doesNotMatch(result.stderr, /\^\(|\$\//, 'no regular expression');
  });
});
