import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from '../support/processes.ts';

export { REPO_ROOT };

export const repoPath = (...parts: string[]): string => path.join(REPO_ROOT, ...parts);
export const readRepoFile = (relative: string): string => readFileSync(repoPath(relative), 'utf8');

/** A Kubernetes object as kubectl kustomize prints it. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the tests read arbitrary fields of rendered objects
  [field: string]: any;
}

function onPath(tool: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => dir !== '' && existsSync(path.join(dir, tool)));
}

/**
 * `false` when the tool is on PATH. Otherwise a skip reason after a loud warning, or, in CI
 * (REQUIRE_SERVICES=1, set by .ci/run, which installs the tools), an error: a missing tool there
 * must fail the run instead of quietly skipping its checks.
 */
export function toolOrSkip(tool: string, installHint: string): string | false {
  if (onPath(tool)) return false;
  const message = `${tool} is not on PATH (${installHint})`;
  if (process.env.REQUIRE_SERVICES === '1') throw new Error(`${message} and REQUIRE_SERVICES=1: these deployment checks cannot run`);
  console.warn(`\n!!! SKIPPED: ${message}; set REQUIRE_SERVICES=1 to make this a failure !!!\n`);
  return `${tool} not installed`;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a tool to completion (never through a shell). */
export function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {}): RunResult {
  const result = spawnSync(command, args, {
    cwd: options.cwd ?? REPO_ROOT,
    env: options.env ?? process.env,
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 120_000,
    maxBuffer: 64 * 1024 * 1024,
    ...(options.input === undefined ? {} : { input: options.input }),
  });
  if (result.error) throw result.error;
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Like run, without blocking the event loop (for tools that talk to a server in this process). */
export function runAsync(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd ?? REPO_ROOT, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Fails with the tool's own output when it did not exit 0. */
export function expectSuccess(result: RunResult, what: string): string {
  if (result.code !== 0) throw new Error(`${what} exited ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`);
  return result.stdout;
}

export function parseYamlDocuments(text: string, source: string): KubeObject[] {
  return parseAllDocuments(text).flatMap((doc, i) => {
    if (doc.errors.length > 0) throw new Error(`${source}, document ${i + 1}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value: unknown = doc.toJS();
    return value === null || value === undefined ? [] : [value as KubeObject];
  });
}

export const OVERLAYS = ['development', 'staging', 'production'] as const;
export type Overlay = (typeof OVERLAYS)[number];

export function renderOverlay(overlay: Overlay): KubeObject[] {
  const out = expectSuccess(run('kubectl', ['kustomize', repoPath('kustomize', 'overlays', overlay)]), `kubectl kustomize kustomize/overlays/${overlay}`);
  return parseYamlDocuments(out, `kustomize/overlays/${overlay}`);
}

export function findObject(objects: KubeObject[], kind: string, name: string): KubeObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} among ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return found;
}

/** `ENV name=value` defaults of the Dockerfile's last stage (the runtime image). */
export function imageEnvironment(): Record<string, string> {
  const stages = readRepoFile('Dockerfile').replace(/\\\n/g, ' ').split(/^FROM /m);
  const runtime = stages[stages.length - 1] ?? '';
  const env: Record<string, string> = {};
  for (const line of runtime.split('\n')) {
    const match = /^ENV\s+(.*)$/.exec(line.trim());
    if (!match) continue;
    for (const pair of (match[1] ?? '').matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)/g)) {
      env[pair[1] as string] = (pair[2] as string).replace(/^"|"$/g, '');
    }
  }
  return env;
}

/** Names of `${VAR}` / `${VAR:-default}` references in config/*.toml (variables the config files read). */
export function configFileVariables(): Set<string> {
  const names = new Set<string>();
  for (const file of ['base', 'auth', 'security', 'timeouts', 'development', 'staging', 'production']) {
    const text = readRepoFile(`config/${file}.toml`)
      .split('\n')
      .filter((line) => !line.trimStart().startsWith('#'))
      .join('\n');
    for (const match of text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)) names.add(match[1] as string);
  }
  return names;
}
