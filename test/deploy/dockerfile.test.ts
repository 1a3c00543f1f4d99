import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { expectSuccess, readRepoFile, REPO_ROOT, repoPath, run } from './support.ts';

interface Instruction {
  stage: number;
  keyword: string;
  args: string;
}

/** The Dockerfile as instructions (continuations joined, comments dropped), each tagged with its stage. */
function instructions(): Instruction[] {
  const lines = readRepoFile('Dockerfile').replace(/\\\n/g, ' ').split('\n');
  let stage = -1;
  const out: Instruction[] = [];
  for (const raw of lines) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([A-Za-z]+)\s+(.*)$/.exec(line);
    assert.ok(match, `Dockerfile line: ${line}`);
    const keyword = (match[1] as string).toUpperCase();
    if (keyword === 'FROM') stage++;
    out.push({ stage, keyword, args: (match[2] as string).trim() });
  }
  return out;
}

/** .dockerignore as Docker reads it: later lines win, `!` re-includes, `*` stays within a segment, `**` spans. */
function dockerignore(): (relative: string) => boolean {
  const rules = readRepoFile('.dockerignore')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = path.posix.normalize(negate ? l.slice(1) : l).replace(/^\/+/, '');
      const source = pattern
        .split('/')
        .map((segment) => (segment === '**' ? '.*' : segment.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')))
        .join('/')
        .replace(/\.\*\//g, '(?:.*/)?');
      return { negate, regex: new RegExp(`^${source}(?:/.*)?$`) };
    });
  return (relative: string) => {
    let ignored = false;
    for (const rule of rules) if (rule.regex.test(relative)) ignored = !rule.negate;
    return ignored;
  };
}

function filesUnder(relative: string): string[] {
  const absolute = repoPath(relative);
  if (!statSync(absolute).isDirectory()) return [relative];
  return readdirSync(absolute).flatMap((entry) => filesUnder(path.posix.join(relative, entry)));
}

/** COPY/ADD lines as sources and destination; `from` is set for COPY --from=STAGE. */
function copies(all: Instruction[]): Array<{ stage: number; from?: string; sources: string[]; destination: string }> {
  return all
    .filter((i) => i.keyword === 'COPY' || i.keyword === 'ADD')
    .map((i) => {
      const parts = i.args.split(/\s+/);
      const flags = parts.filter((p) => p.startsWith('--'));
      const paths = parts.filter((p) => !p.startsWith('--'));
      const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
      return { stage: i.stage, ...(from ? { from } : {}), sources: paths.slice(0, -1), destination: paths[paths.length - 1] as string };
    });
}

const packageJson = JSON.parse(readRepoFile('package.json')) as { bin: Record<string, string>; files: string[]; scripts: Record<string, string>; dependencies: Record<string, string> };

describe('Dockerfile', () => {
  const all = instructions();
  const stages = all.filter((i) => i.keyword === 'FROM');
  const runtime = all.filter((i) => i.stage === stages.length - 1);
  const one = (list: Instruction[], keyword: string) => list.filter((i) => i.keyword === keyword);

  it('builds in one stage and runs a slim current-LTS Node in another', () => {
    assert.equal(stages.length, 2);
    const arg = one(all, 'ARG').find((a) => a.args.startsWith('NODE_IMAGE='));
    assert.match(arg?.args ?? '', /^NODE_IMAGE=node:24-[a-z]+-slim$/, 'Node 24 (the current LTS), a slim Debian image');
    assert.match(stages[0]?.args ?? '', /^\$\{NODE_IMAGE\} AS build$/);
    assert.match(stages[1]?.args ?? '', /^\$\{NODE_IMAGE\} AS runtime$/);
    const runtimeRuns = one(runtime, 'RUN').map((r) => r.args).join('\n');
    assert.match(runtimeRuns, /npm ci --omit=dev --ignore-scripts/);
    assert.doesNotMatch(runtimeRuns, /npm run build|tsc/, 'nothing is compiled in the runtime image');
    assert.match(one(all.filter((i) => i.stage === 0), 'RUN').map((r) => r.args).join('\n'), /npm run build/);
  });

  it('runs as a numeric non-root user under an init process, with a HEALTHCHECK and every bin on PATH', () => {
    const user = one(runtime, 'USER').pop()?.args ?? '';
    assert.match(user, /^[1-9]\d*:[1-9]\d*$/, 'numeric, so Kubernetes can verify runAsNonRoot');
    const entrypoint = JSON.parse(one(runtime, 'ENTRYPOINT').pop()?.args ?? '[]') as string[];
    assert.deepEqual(entrypoint, ['/usr/bin/tini', '--', 'scheduler']);
    assert.match(one(runtime, 'RUN').map((r) => r.args).join('\n'), /apt-get install[^\n]*\btini\b/);
    const healthcheck = one(runtime, 'HEALTHCHECK').pop()?.args ?? '';
    assert.match(healthcheck, /--interval=\d+s/);
    assert.match(healthcheck, /\/health/);
    assert.deepEqual(JSON.parse(one(runtime, 'CMD').pop()?.args ?? '[]'), ['--mode', 'all']);
    assert.ok(one(runtime, 'EXPOSE').some((e) => e.args.split(/\s+/).includes('8080')));
    const links = one(runtime, 'RUN').map((r) => r.args).find((r) => r.includes('/usr/local/bin/')) ?? '';
    for (const [bin, target] of Object.entries(packageJson.bin)) {
      assert.match(links, new RegExp(`\\b${bin}\\b`), `${bin} is linked onto PATH`);
      assert.match(links, /"\/app\/dist\/cli\/bin\/\$bin\.js"/);
      assert.equal(target, `dist/cli/bin/${bin}.js`, `package.json bin ${bin} is where the image links it`);
    }
  });

  it('copies only what exists in the build context after .dockerignore', () => {
    const ignored = dockerignore();
    const stageNames = stages.map((s) => /\bAS\s+(\S+)$/i.exec(s.args)?.[1]);
    for (const copy of copies(all)) {
      if (copy.from) {
        assert.ok(stageNames.includes(copy.from), `COPY --from=${copy.from} names a stage`);
        continue;
      }
      for (const source of copy.sources) {
        assert.ok(existsSync(repoPath(source)), `COPY ${source}: exists in the repository`);
        assert.ok(!ignored(source), `COPY ${source}: not excluded by .dockerignore`);
        const files = filesUnder(source).filter((f) => !ignored(f));
        assert.ok(files.length > 0, `COPY ${source}: some files reach the context`);
      }
    }
    // the matcher itself: what must stay out does
    for (const outside of ['node_modules/fastify/package.json', 'dist/cli/bin/scheduler.js', '.git/HEAD', 'test/deploy/dockerfile.test.ts', 'core/x.test.ts', '.env']) {
      assert.ok(ignored(outside), `${outside} stays out of the context`);
    }
    assert.ok(!ignored('core/config/schema.ts'));
  });

  it('gives the build stage every folder tsconfig.build.json compiles and every file the build script runs', () => {
    const copied = copies(all).filter((c) => c.stage === 0 && !c.from).flatMap((c) => c.sources);
    const build = JSON.parse(readRepoFile('tsconfig.build.json')) as { include: string[]; extends: string };
    for (const folder of build.include) assert.ok(copied.includes(folder), `build stage copies ${folder}`);
    assert.ok(copied.includes(build.extends.replace(/^\.\//, '')), 'and the tsconfig it extends');
    for (const match of packageJson.scripts.build?.matchAll(/node\s+(\S+)/g) ?? []) assert.ok(copied.includes(match[1] as string), `build stage copies ${match[1]}`);
    const runtimeCopies = copies(all).filter((c) => c.stage === stages.length - 1);
    for (const entry of packageJson.files) {
      const shipped = runtimeCopies.some((c) => c.sources.map((source) => source.replace(/^\/app\//, '')).includes(entry)) || (entry === 'core/store/migrations' && readRepoFile('scripts/copy-assets.mjs').includes("'dist/core/store/migrations'"));
      assert.ok(shipped, `package.json files entry ${entry} reaches the runtime image`);
    }
  });

  describe('the build, replayed from the context in a temporary folder', () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(path.join(tmpdir(), 'hg-image-'));
      const ignored = dockerignore();
      for (const copy of copies(all).filter((c) => c.stage === 0 && !c.from)) {
        for (const source of copy.sources) {
          for (const file of filesUnder(source).filter((f) => !ignored(f))) {
            mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
            cpSync(repoPath(file), path.join(dir, file));
          }
        }
      }
      // npm ci is not replayed: the installed tree stands in for it
      symlinkSync(repoPath('node_modules'), path.join(dir, 'node_modules'));
    });
    after(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('compiles, and dist/ runs the bins with config/ beside it', () => {
      expectSuccess(run(process.execPath, [path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: dir, timeoutMs: 170_000 }), 'tsc -p tsconfig.build.json');
      expectSuccess(run(process.execPath, ['scripts/copy-assets.mjs'], { cwd: dir }), 'node scripts/copy-assets.mjs');
      for (const target of Object.values(packageJson.bin)) assert.ok(existsSync(path.join(dir, target)), `${target} was built`);
      assert.ok(readdirSync(path.join(dir, 'dist', 'core', 'store', 'migrations')).some((f) => f.endsWith('.sql')), 'migrations ship in dist/');
      // the runtime stage's layout: package.json, dist/ and config/ (the copy of config/ is the runtime COPY)
      cpSync(repoPath('config'), path.join(dir, 'config'), { recursive: true });
      const version = expectSuccess(run(process.execPath, ['dist/cli/bin/scheduler.js', '--version'], { cwd: dir }), 'scheduler --version');
      assert.equal(version.trim(), (JSON.parse(readRepoFile('package.json')) as { version: string }).version);
      const validated = expectSuccess(run(process.execPath, ['dist/cli/bin/scheduler.js', 'config', 'validate'], { cwd: dir, env: { PATH: process.env.PATH, ENVIRONMENT: 'development' } }), 'scheduler config validate');
      assert.match(validated, /^ok: environment development/);
    });

    it('imports at run time only Node built-ins and production dependencies (npm ci --omit=dev suffices)', () => {
      const builtins = new Set(builtinModules);
      const allowed = new Set(Object.keys(packageJson.dependencies));
      const bad: string[] = [];
      const walk = (folder: string) => {
        for (const entry of readdirSync(folder, { withFileTypes: true })) {
          const file = path.join(folder, entry.name);
          if (entry.isDirectory()) walk(file);
          else if (entry.name.endsWith('.js')) {
            const text = readFileSync(file, 'utf8');
            for (const match of text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)["']([^"'.][^"']*)["']/g)) {
              const specifier = match[1] as string;
              // text that only looks like an import (inside a template string or a message)
              if (!/^[@a-z0-9][\w.\-/@]*$/i.test(specifier)) continue;
              if (specifier.startsWith('node:') || builtins.has(specifier)) continue;
              const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : (specifier.split('/')[0] as string);
              if (!allowed.has(name)) bad.push(`${path.relative(dir, file)} imports ${specifier}`);
            }
          }
        }
      };
      assert.ok(existsSync(path.join(dir, 'dist')), 'the build ran');
      walk(path.join(dir, 'dist'));
      assert.deepEqual(bad, [], 'dist/ imports packages that npm ci --omit=dev does not install');
    });
  });
});
