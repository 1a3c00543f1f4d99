import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort, REPO_ROOT, tempDir } from '../support/processes.ts';
import { runnableBlocks } from './runnable-blocks.ts';

/**
 * The README's quick start and docs/ re-walked as a newcomer would: `npm start` as the README says (on a
 * free port and a fresh data folder), then every block marked runnable, in order, with the documented
 * `localhost:8080` pointed at that server. A block that fails, or whose output lacks its `expect`, fails.
 */
const BLOCKS = runnableBlocks(REPO_ROOT);
const BUILT_CLI = path.join(REPO_ROOT, 'dist', 'cli', 'bin', 'scheduler-cli.js');

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(full));
    else if (entry.name.endsWith('.ts') || entry.name.endsWith('.sql')) newest = Math.max(newest, statSync(full).mtimeMs);
  }
  return newest;
}

/** `npx scheduler-cli` runs dist/, which `npm ci` builds; rebuild it here only when the sources are newer. */
async function ensureBuilt(): Promise<void> {
  const sources = Math.max(...['cli', 'core', 'api', 'worker', 'operator'].map((d) => newestSource(path.join(REPO_ROOT, d))));
  if (existsSync(BUILT_CLI) && statSync(BUILT_CLI).mtimeMs >= sources) return;
  await run('npm', ['run', 'build'], REPO_ROOT, process.env, 300_000);
}

function cleanEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) if (/^(DATABASE_|MESSAGE_QUEUE_|REDIS_|API_|JWT_|SCHEDULER_API_)/.test(name)) delete env[name];
  delete env.NODE_TEST_CONTEXT;
  for (const [key, value] of Object.entries(extra)) if (value !== undefined) env[key] = value;
  return env;
}

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, timeout = 120_000): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, env, timeout, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : 1) : 0;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}

describe('README and docs/: every block marked runnable runs against `npm start`', () => {
  const data = tempDir('hg-docs-');
  let server: ChildProcess | undefined;
  let port = 0;
  let log = '';

  let shims = '';
  before(async () => {
    await ensureBuilt();
    shims = path.join(data.dir, 'bin');
    mkdirSync(shims);
    for (const name of ['scheduler', 'scheduler-cli']) {
      writeFileSync(path.join(shims, name), `#!/bin/sh\nexec node ${JSON.stringify(path.join(REPO_ROOT, 'dist', 'cli', 'bin', `${name}.js`))} "$@"\n`, { mode: 0o755 });
    }
    port = await freePort();
    // exactly the README's command; the port and the data folder are the only changes
    server = spawn('npm', ['start', '--', '--data-dir', path.join(data.dir, 'data')], {
      cwd: REPO_ROOT,
      env: cleanEnv({ ENVIRONMENT: 'development', API_BIND_ADDRESS: `127.0.0.1:${port}`, LOG_FORMAT: 'json' }),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`npm start did not listen within 60 s:\n${log}`)), 60_000);
      const onData = (chunk: Buffer) => {
        log += chunk.toString();
        if (log.includes('API listening')) {
          clearTimeout(timer);
          resolve();
        }
      };
      server?.stdout?.on('data', onData);
      server?.stderr?.on('data', onData);
      server?.on('exit', (code) => reject(new Error(`npm start exited (${code}):\n${log}`)));
    });
  });
  after(() => {
    // npm start runs node in a shell: stop the whole process group
    if (server?.pid) {
      try {
        process.kill(-server.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    data.remove();
  });

  it('the README quick start has its curl and CLI blocks marked', () => {
    const readme = BLOCKS.filter((b) => b.file === 'README.md');
    assert.ok(readme.length >= 3, `${readme.length} runnable blocks in README.md`);
    assert.ok(readme.some((b) => /curl .*\/api\/tasks/.test(b.code)) && readme.some((b) => /npx scheduler-cli/.test(b.code)));
  });

  it('no link in the README or docs/ leads outside the repository or to a missing file', () => {
    for (const file of ['README.md', ...readdirSync(path.join(REPO_ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => path.join('docs', f))]) {
      const text = readFileSync(path.join(REPO_ROOT, file), 'utf8');
      for (const [, target] of text.matchAll(/\]\(([^)\s#]+)(?:#[^)]*)?\)/g)) {
        if (!target || /^[a-z]+:/.test(target)) continue;
        const resolved = path.resolve(REPO_ROOT, path.dirname(file), target);
        assert.ok(resolved.startsWith(`${REPO_ROOT}${path.sep}`), `${file} links outside the repository: ${target}`);
        assert.ok(existsSync(resolved), `${file} links to a missing file: ${target}`);
      }
      assert.doesNotMatch(text, /\.\.\/shared\//, `${file} names a path outside the repository`);
    }
  });

  for (const block of BLOCKS) {
    it(`${block.file}:${block.line}`, async () => {
      const code = block.code.replaceAll('localhost:8080', `127.0.0.1:${port}`).replaceAll('127.0.0.1:8080', `127.0.0.1:${port}`);
      // docs/ write the installed names (scheduler-cli, scheduler): they are the compiled bins npx runs
      const bin = path.join(REPO_ROOT, 'node_modules', '.bin');
      const env = cleanEnv({ SCHEDULER_API_URL: `http://127.0.0.1:${port}`, PATH: `${shims}${path.delimiter}${bin}${path.delimiter}${process.env.PATH ?? ''}` });
      const result = await run('bash', ['-e', '-o', 'pipefail', '-c', code], REPO_ROOT, env);
      assert.equal(result.code, 0, `${block.file}:${block.line} failed (exit ${result.code}):\n${code}\n--- output ---\n${result.out}`);
      if (block.expect !== undefined) assert.ok(result.out.includes(block.expect), `${block.file}:${block.line}: no "${block.expect}" in:\n${result.out}`);
    });
  }
});
