import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { SERVICE_URLS, createTestDatabase } from './services.ts';

/** Repository root (/work/main). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SCHEDULER_BIN = path.join(REPO_ROOT, 'cli', 'bin', 'scheduler.ts');

const KEEP_LINES = 200;

export interface StartOptions {
  args: string[];
  /** merged over process.env; a value of undefined removes the variable from the child's environment */
  env?: Record<string, string | undefined>;
  name: string;
  cwd?: string;
  /** the script to run; defaults to cli/bin/scheduler.ts */
  script?: string;
}

export interface Proc {
  name: string;
  child: ChildProcess;
  pid: number;
  /** the last ~200 stdout/stderr lines, prefixed with the process name */
  lines: string[];
  /** every line seen since start (also beyond the kept buffer), for waitForLine */
  waitForLine(regex: RegExp, timeoutMs?: number): Promise<string>;
  kill(signal?: NodeJS.Signals): void;
  /** resolves with the exit code (or null when killed by a signal) and the signal */
  waitForExit(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exited: boolean;
}

const all = new Set<Proc>();

/** Spawns `node cli/bin/scheduler.ts ...args` with the repository as cwd, capturing its output. */
export function startProcess(options: StartOptions): Proc {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries({ ...process.env, ENVIRONMENT: 'development', ...options.env })) {
    if (value !== undefined) env[key] = value;
  }
  // The child must not inherit the test runner's own IPC/test hooks.
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(process.execPath, [options.script ?? SCHEDULER_BIN, ...options.args], {
    cwd: options.cwd ?? REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiters = new Set<{ regex: RegExp; resolve: (line: string) => void }>();
  const seen: string[] = [];
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitWaiters = new Set<(info: { code: number | null; signal: NodeJS.Signals | null }) => void>();

  const onLine = (stream: string, line: string) => {
    lines.push(`[${options.name} ${stream}] ${line}`);
    if (lines.length > KEEP_LINES) lines.splice(0, lines.length - KEEP_LINES);
    seen.push(line);
    if (seen.length > 20_000) seen.splice(0, seen.length - 20_000);
    for (const waiter of waiters) {
      if (waiter.regex.test(line)) {
        waiters.delete(waiter);
        waiter.resolve(line);
      }
    }
  };
  for (const [streamName, stream] of [['out', child.stdout], ['err', child.stderr]] as const) {
    let rest = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      rest += chunk;
      const parts = rest.split('\n');
      rest = parts.pop() ?? '';
      for (const part of parts) onLine(streamName, part);
    });
    stream?.on('end', () => {
      if (rest) onLine(streamName, rest);
      rest = '';
    });
  }
  const proc: Proc = {
    name: options.name,
    child,
    pid: child.pid ?? -1,
    lines,
    exited: false,
    waitForLine(regex, timeoutMs = 15_000) {
      const found = seen.find((line) => regex.test(line));
      if (found !== undefined) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const waiter = {
          regex,
          resolve: (line: string) => {
            clearTimeout(timer);
            resolve(line);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`${options.name}: no line matching ${regex} within ${timeoutMs} ms${exitInfo ? ` (process exited: ${JSON.stringify(exitInfo)})` : ''}`));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    kill(signal = 'SIGTERM') {
      if (!proc.exited) child.kill(signal);
    },
    waitForExit(timeoutMs = 15_000) {
      if (exitInfo) return Promise.resolve(exitInfo);
      return new Promise((resolve, reject) => {
        const done = (info: { code: number | null; signal: NodeJS.Signals | null }) => {
          clearTimeout(timer);
          resolve(info);
        };
        const timer = setTimeout(() => {
          exitWaiters.delete(done);
          reject(new Error(`${options.name} did not exit within ${timeoutMs} ms`));
        }, timeoutMs);
        exitWaiters.add(done);
      });
    },
  };
  child.on('exit', (code, signal) => {
    exitInfo = { code, signal };
    proc.exited = true;
    lines.push(`[${options.name}] exited code=${code} signal=${signal}`);
    for (const waiter of exitWaiters) waiter(exitInfo);
    exitWaiters.clear();
  });
  child.on('error', (error) => lines.push(`[${options.name}] spawn error: ${error.message}`));
  all.add(proc);
  return proc;
}

/** SIGKILLs every process started by this file that is still alive, and waits for them to go. */
export async function killAll(): Promise<void> {
  const alive = [...all].filter((p) => !p.exited);
  for (const p of alive) p.kill('SIGKILL');
  await Promise.all(alive.map((p) => p.waitForExit(5000).catch(() => undefined)));
  all.clear();
}

/** The captured output of every process started since the last killAll (for failure diagnostics). */
export function allOutput(): string {
  return [...all].map((p) => `----- ${p.name} (pid ${p.pid}) last ${p.lines.length} lines -----\n${p.lines.join('\n')}`).join('\n');
}

/**
 * For an `after` hook: prints the captured output of every process when the suite failed (or always
 * with E2E_DUMP=1).
 */
export function dumpIfFailed(failed: boolean): void {
  if (failed || process.env.E2E_DUMP === '1') process.stderr.write(`\n${allOutput()}\n`);
}

export async function waitFor<T>(predicate: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 10_000, intervalMs = 200, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await predicate();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `; last error: ${(lastError as Error).message}` : ''}`);
    }
    await sleep(intervalMs);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** A JSON body from the API, asserted field by field by the tests. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary response fields
export type Json = any;

export interface ApiResponse<T = Json> {
  status: number;
  headers: Headers;
  body: T;
}

/** A tiny JSON client; never throws on HTTP errors: the caller asserts the status. */
export function api(baseUrl: string) {
  const call = async <T = Json>(method: string, pathname: string, body?: unknown): Promise<ApiResponse<T>> => {
    const response = await fetch(new URL(pathname, baseUrl), {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, headers: response.headers, body: parsed as T };
  };
  return {
    get: <T = Json>(p: string) => call<T>('GET', p),
    post: <T = Json>(p: string, body?: unknown) => call<T>('POST', p, body),
    put: <T = Json>(p: string, body?: unknown) => call<T>('PUT', p, body),
    delete: <T = Json>(p: string) => call<T>('DELETE', p),
  };
}
export type Api = ReturnType<typeof api>;

/** A temp dir removed by the returned cleanup. */
export function tempDir(prefix = 'hg-e2e-'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export type Backend = 'postgres' | 'redis_stream' | 'rabbitmq';

/**
 * Writes a TOML with unique queue names and fast timings for one test; returns its path.
 * `extra` is appended verbatim (it may add keys to new tables only).
 */
export function writeTestConfig(dir: string, unique: string, options: { workerEnabled?: boolean; extra?: string } = {}): string {
  const file = path.join(dir, `config-${unique}.toml`);
  writeFileSync(
    file,
    [
      '[message_queue]',
      `task_queue = "t-${unique}"`,
      `status_queue = "s-${unique}"`,
      `heartbeat_queue = "h-${unique}"`,
      '',
      '[message_queue.redis]',
      'read_timeout_seconds = 1',
      '',
      '[dispatcher]',
      'worker_timeout_seconds = 3',
      'schedule_interval_seconds = 2',
      '',
      '[worker]',
      `enabled = ${options.workerEnabled ?? true}`,
      'heartbeat_interval_seconds = 1',
      'drain_timeout_seconds = 5',
      'max_concurrent_tasks = 10',
      '',
      options.extra ?? '',
    ].join('\n'),
  );
  return file;
}

/** Environment for a scheduler child on one backend against one test database. */
export function backendEnv(backend: Backend, databaseUrl: string, urls: { redis: string; rabbitmq: string }): Record<string, string | undefined> {
  return {
    ENVIRONMENT: 'development',
    DATABASE_URL: databaseUrl,
    MESSAGE_QUEUE_TYPE: backend,
    MESSAGE_QUEUE_URL: backend === 'redis_stream' ? `${urls.redis.replace(/\/+$/, '')}/0` : backend === 'rabbitmq' ? urls.rabbitmq : undefined,
    LOG_LEVEL: 'info',
    LOG_FORMAT: 'json', // the tests read log lines as JSON
    WORKER_ID: undefined,
  };
}

/** Failure flag shared by a suite's tests and its `after` hook, which dumps process output when set. */
export interface FailureFlag {
  failed: boolean;
}

/** Wraps a test or hook body: on error, marks the flag and adds a diagnostic before rethrowing. */
export function tracked<C extends { diagnostic?: (message: string) => void } | undefined>(
  flag: FailureFlag,
  body: (t: C) => Promise<void>,
): (t: C) => Promise<void> {
  return async (t: C) => {
    try {
      await body(t);
    } catch (error) {
      flag.failed = true;
      t?.diagnostic?.(String(error));
      throw error;
    }
  };
}

/** True while a process with this pid exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}


/** What one e2e suite works in: a fresh database with a SQL client, and a temp folder. */
export interface E2eWorld {
  db: Awaited<ReturnType<typeof createTestDatabase>>;
  sql: pg.Client;
  tmp: ReturnType<typeof tempDir>;
  /**
   * A folder that shell tasks may write to and the test reads (journals, markers). Tasks run as an
   * unprivileged uid in a namespace of their own (docs/task-isolation.md): they cannot reach `tmp`, whose
   * config files they must never read, and a marker they could not write would prove nothing.
   */
  shared: ReturnType<typeof tempDir>;
}

/**
 * Registers the hooks that make and tear down an E2eWorld for the calling suite: every process it started
 * is killed, the database dropped and the folder removed, even when a test failed (its output is dumped).
 */
export function useE2eWorld(flag: FailureFlag, options: { cleanup?: () => void } = {}): E2eWorld {
  const world = {} as E2eWorld;
  before(tracked(flag, async () => {
    world.db = await createTestDatabase();
    world.sql = new pg.Client({ connectionString: world.db.url });
    await world.sql.connect();
    world.tmp = tempDir();
    world.shared = tempDir('hg-e2e-shared-');
    chmodSync(world.shared.dir, 0o1777);
  }));
  after(async () => {
    dumpIfFailed(flag.failed);
    await killAll();
    options.cleanup?.();
    await world.sql?.end();
    await world.db?.drop();
    world.tmp?.remove();
    world.shared?.remove();
  });
  return world;
}

/** Starts `scheduler --mode all` on a backend with an API on a free port; resolves once the API listens. */
export async function startAllInOne(world: E2eWorld, backend: Backend, configFile: string, name = `all-${backend}`): Promise<{ proc: Proc; client: Api }> {
  const port = await freePort();
  const proc = startProcess({
    name,
    args: ['--mode', 'all', '--config', configFile],
    env: { ...backendEnv(backend, world.db.url, SERVICE_URLS), API_BIND_ADDRESS: `127.0.0.1:${port}` },
  });
  await proc.waitForLine(/API listening/, 20_000);
  return { proc, client: api(`http://127.0.0.1:${port}`) };
}
