import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SERVICE_URLS } from '../support/services.ts';
import { startFaultProxy, viaProxy, type FaultProxy } from '../support/fault-proxy.ts';
import { api, backendEnv, freePort, startProcess, type Api, type Backend, type Proc } from '../support/processes.ts';

/** the chaos config's dispatcher.worker_timeout_seconds; a vanished worker host stays away longer */
export const CHAOS_WORKER_TIMEOUT_SECONDS = 12;

const CLOCK_PRELOAD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'clock-offset.ts');

export type Role = 'dispatcher' | 'worker' | 'api';

/** One process slot of the topology; a restart puts a new process (a new "pod") in the same slot. */
export interface Member {
  role: Role;
  /** d0, w1, api */
  slot: string;
  /** restarts so far; part of a worker's id, as a pod name would be */
  generation: number;
  proc: Proc;
  clockFile: string;
  /** whether this process last said it leads (dispatchers) */
  leading: boolean;
  /** set when the harness stops it; any other exit is a crash */
  stopping: boolean;
  /** it said it was up; before that, exiting (its database or broker is unreachable) is a refusal to start */
  ready: boolean;
}

/** A process that exited without being told to: a bug, whatever the invariants say. */
export interface Crash {
  process: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** its last lines of stderr */
  stderr: string[];
}

/** The network of one process's host: its own proxies in front of the shared ones, so it can vanish alone. */
interface Host {
  db: FaultProxy;
  broker: FaultProxy | undefined;
  env: Record<string, string | undefined>;
}

/** the pool of the extra worker that pool changes move tasks to */
export const OTHER_POOL = 'chaos-b';

export interface TopologyOptions {
  backend: Backend;
  databaseUrl: string;
  dir: string;
  namespace: string;
  dispatchers: number;
  workers: number;
  workerConcurrency: number;
}

/**
 * The real processes of one chaos run: N dispatchers, M workers and one API process, each a child
 * `node cli/bin/scheduler.ts --mode ...` whose database and broker connections go through fault proxies,
 * and whose wall clock the harness can jump (clock-offset.ts). Each dispatcher and each worker of the
 * default pool also sits behind proxies of its own (its "host"), so that one host can vanish (vanishHost)
 * while the others keep their network.
 * Besides the M workers of the default pool, one worker (slot wb) serves OTHER_POOL.
 */
export class Topology {
  readonly options: TopologyOptions;
  readonly members = new Map<string, Member>();
  dbProxy!: FaultProxy;
  brokerProxy: FaultProxy | undefined;
  client!: Api;
  apiUrl = '';
  configFile!: string;
  readonly #hosts = new Map<string, Host>();
  #env: Record<string, string | undefined> = {};
  #apiPort = 0;
  readonly #restarts = new Set<Promise<void>>();
  readonly crashes: Crash[] = [];
  #stopped = false;

  constructor(options: TopologyOptions) {
    this.options = options;
  }

  async start(): Promise<void> {
    const { backend, databaseUrl } = this.options;
    const pg = new URL(databaseUrl);
    this.dbProxy = await startFaultProxy({ host: pg.hostname, port: Number(pg.port || 5432) });
    let brokerUrls = { redis: SERVICE_URLS.redis, rabbitmq: SERVICE_URLS.rabbitmq };
    if (backend !== 'postgres') {
      const real = new URL(backend === 'redis_stream' ? SERVICE_URLS.redis : SERVICE_URLS.rabbitmq);
      this.brokerProxy = await startFaultProxy({ host: real.hostname, port: Number(real.port || (backend === 'redis_stream' ? 6379 : 5672)) });
      brokerUrls = {
        redis: viaProxy(SERVICE_URLS.redis, this.brokerProxy).replace(/\/+$/, ''),
        rabbitmq: viaProxy(SERVICE_URLS.rabbitmq, this.brokerProxy).replace(/\/+$/, ''),
      };
    }
    this.configFile = this.#writeConfig();
    this.#env = { ...backendEnv(backend, viaProxy(databaseUrl, this.dbProxy), brokerUrls) };
    for (let i = 0; i < this.options.dispatchers; i++) this.#hosts.set(`d${i}`, await this.#host(brokerUrls));
    for (let i = 0; i < this.options.workers; i++) this.#hosts.set(`w${i}`, await this.#host(brokerUrls));
    this.#apiPort = await freePort();
    this.apiUrl = `http://127.0.0.1:${this.#apiPort}`;
    this.client = api(this.apiUrl);
    for (let i = 0; i < this.options.dispatchers; i++) this.#spawn('dispatcher', `d${i}`);
    await this.#started(this.members.get('d0') as Member);
    const rest = [...this.members.values()].filter((m) => m.slot !== 'd0');
    for (let i = 0; i < this.options.workers; i++) this.#spawn('worker', `w${i}`);
    this.#spawn('worker', 'wb');
    this.#spawn('api', 'api');
    await Promise.all([...rest, ...[...this.members.values()].filter((m) => m.role !== 'dispatcher')].map((m) => this.#started(m)));
  }

  get leader(): Member | undefined {
    return [...this.members.values()].find((m) => m.role === 'dispatcher' && m.leading && !m.proc.exited);
  }

  of(role: Role): Member[] {
    return [...this.members.values()].filter((m) => m.role === role);
  }

  /** SIGKILL (crash) or SIGTERM (graceful stop, a worker drains); resolves once the process is gone. */
  async stop(member: Member, signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
    member.stopping = true;
    member.proc.kill(signal);
    member.leading = false;
    await member.proc.waitForExit(signal === 'SIGKILL' ? 5000 : 30_000).catch(() => {
      member.proc.kill('SIGKILL');
    });
  }

  /**
   * A new process in the slot, as a supervisor would start it. The harness does not wait for it to come
   * up (the next fault may strike meanwhile); restarted() waits for every restart so far.
   */
  restart(member: Member): Promise<void> {
    const next = this.#spawn(member.role, member.slot, member.generation + 1);
    const up = this.#started(next).catch(() => {});
    this.#restarts.add(up);
    void up.finally(() => this.#restarts.delete(up));
    return up;
  }

  /**
   * The member's host vanishes from the network: every byte to and from it is held, on its open connections
   * and on new ones, without a FIN or an RST (a powered-off VM, a partition). The process keeps running.
   */
  vanishHost(member: Member): void {
    const host = this.#hosts.get(member.slot);
    if (!host) throw new Error(`${member.slot} has no host of its own`);
    host.db.stall();
    host.broker?.stall();
  }

  /** The host is back (the partition healed): its held bytes flow again. */
  restoreHost(member: Member): void {
    const host = this.#hosts.get(member.slot);
    host?.db.restore();
    host?.broker?.restore();
  }

  async restarted(): Promise<void> {
    await Promise.all([...this.#restarts]);
  }

  setClockOffset(member: Member, offsetMs: number): void {
    writeFileSync(member.clockFile, String(offsetMs));
  }

  async stopAll(): Promise<void> {
    this.#stopped = true;
    await Promise.all([...this.members.values()].map((m) => this.stop(m, 'SIGKILL')));
    for (const host of this.#hosts.values()) {
      await host.db.close();
      await host.broker?.close();
    }
    await this.dbProxy?.close();
    await this.brokerProxy?.close();
  }

  /** proxies of one host in front of the shared ones, and the environment that routes through them */
  async #host(brokerUrls: { redis: string; rabbitmq: string }): Promise<Host> {
    const db = await startFaultProxy({ host: '127.0.0.1', port: this.dbProxy.port });
    const broker = this.brokerProxy ? await startFaultProxy({ host: '127.0.0.1', port: this.brokerProxy.port }) : undefined;
    const urls = broker
      ? { redis: viaProxy(brokerUrls.redis, broker).replace(/\/+$/, ''), rabbitmq: viaProxy(brokerUrls.rabbitmq, broker).replace(/\/+$/, '') }
      : brokerUrls;
    return { db, broker, env: backendEnv(this.options.backend, viaProxy(this.options.databaseUrl, db), urls) };
  }

  /** Every process alive, for the diagnostics of a failed run. */
  output(): string {
    return [...this.members.values()].map((m) => `----- ${m.slot} gen ${m.generation} -----\n${m.proc.lines.join('\n')}`).join('\n');
  }

  #spawn(role: Role, slot: string, generation = 0): Member {
    const clockFile = path.join(this.options.dir, `clock-${slot}`);
    writeFileSync(clockFile, '0');
    const args = ['--mode', role, '--config', this.configFile];
    if (role === 'worker') args.push('--worker-id', `${slot}-${generation}`);
    if (slot === 'wb') args.push('--pool', OTHER_POOL);
    const env: Record<string, string | undefined> = {
      ...(this.#hosts.get(slot)?.env ?? this.#env),
      HOURGLASS_CHAOS_CLOCK_FILE: clockFile,
      NODE_OPTIONS: [process.env.NODE_OPTIONS, `--import=${CLOCK_PRELOAD}`].filter(Boolean).join(' '),
    };
    if (role === 'api') env.API_BIND_ADDRESS = `127.0.0.1:${this.#apiPort}`;
    const proc = startProcess({ name: `${this.options.backend}-${slot}-${generation}`, args, env });
    const member: Member = { role, slot, generation, proc, clockFile, leading: false, stopping: false, ready: false };
    // a crashed process is counted, then restarted as a supervisor (Kubernetes, systemd) would; one that
    // refuses to start (its database is cut) is only restarted
    // 'close', not 'exit': the last stderr lines are read by then
    proc.child.once('close', (code, signal) => {
      if (member.stopping || this.#stopped) return;
      // `scheduler: <reason>` is the one-line exit of a start that failed (serve.ts); a crash has a stack
      const refusedToStart = !member.ready || proc.lines.some((l) => l.includes(' err] scheduler: '));
      if (!refusedToStart) this.crashes.push({ process: `${slot}-${generation}`, code, signal, stderr: proc.lines.filter((l) => l.includes(' err] ')).slice(-15) });
      setTimeout(() => {
        if (!this.#stopped && this.members.get(slot) === member) void this.restart(member);
      }, 1000);
    });
    let rest = '';
    proc.child.stdout?.on('data', (chunk: Buffer | string) => {
      rest += String(chunk);
      const lines = rest.split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        if (line.includes('became the dispatcher leader')) member.leading = true;
        else if (line.includes('lost dispatcher leadership') || line.includes('advisory lock connection lost')) member.leading = false;
      }
    });
    this.members.set(slot, member);
    return member;
  }

  async #started(member: Member): Promise<void> {
    const ready = member.role === 'worker' ? /worker started/ : member.role === 'api' ? /API listening/ : /"msg":"starting"/;
    await member.proc.waitForLine(ready, 30_000);
    member.ready = true;
  }

  #writeConfig(): string {
    const ns = this.options.namespace;
    const file = path.join(this.options.dir, `chaos-${ns}.toml`);
    writeFileSync(
      file,
      [
        '[database]',
        'connection_timeout_seconds = 5',
        'statement_timeout_seconds = 4',
        // a query on a connection of a vanished host fails after this (defect 4 of issue 12), and a vanished
        // host's open transaction is ended by the server after this; below worker_timeout_seconds, as the
        // config rule asks, or a write waiting on that host's locks can get a live worker declared dead
        'query_timeout_seconds = 5',
        '',
        '[message_queue]',
        `task_queue = "t-${ns}"`,
        `status_queue = "s-${ns}"`,
        `heartbeat_queue = "h-${ns}"`,
        // a run read by a worker killed before it claimed it goes to another worker after this long
        'consumer_timeout_seconds = 10',
        '',
        '[message_queue.redis]',
        'read_timeout_seconds = 1',
        'connection_timeout_seconds = 5',
        '',
        '[dispatcher]',
        // 6 s with 1 s heartbeats was below this machine's noise under load (a 5 s query deadline, a GC
        // pause): live workers were declared dead in the CI form; a vanished worker host (15 s) still is
        `worker_timeout_seconds = ${CHAOS_WORKER_TIMEOUT_SECONDS}`,
        'schedule_interval_seconds = 2',
        '',
        '[worker]',
        'heartbeat_interval_seconds = 1',
        'drain_timeout_seconds = 5',
        `max_concurrent_tasks = ${this.options.workerConcurrency}`,
        '',
      ].join('\n'),
    );
    return file;
  }
}
