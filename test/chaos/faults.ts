import type pg from 'pg';
import { rollingDrain, suspendResume, changePool, vanishLeaderHost, vanishStandbyHost, vanishWorkerHost } from './scenario-faults.ts';
import { CHAOS_WORKER_TIMEOUT_SECONDS, type Member, type Topology } from './topology.ts';

/**
 * The faults a chaos run injects. Each one is applied, held for a while, and undone (a killed process is
 * restarted, as a supervisor would); the run goes through them in a shuffled order, again and again.
 */
export type FaultKind =
  | 'kill-leader'
  | 'kill-standby'
  | 'kill-worker'
  | 'term-worker'
  | 'term-leader'
  | 'cut-database'
  | 'stall-database'
  | 'cut-broker'
  | 'stall-broker'
  | 'clock-jump'
  | 'vanish-leader-host'
  | 'vanish-standby-host'
  | 'vanish-worker-host'
  | 'rolling-drain'
  | 'suspend-resume'
  | 'change-pool';

/** issue 12 §4: the faults that once went unseen; the first round of a run goes through these first */
export const SCENARIO_FAULTS: readonly FaultKind[] = ['vanish-leader-host', 'vanish-standby-host', 'vanish-worker-host', 'rolling-drain', 'suspend-resume', 'change-pool'];

export const ALL_FAULTS: readonly FaultKind[] = [
  'kill-leader', 'kill-standby', 'kill-worker', 'term-worker', 'term-leader',
  'cut-database', 'stall-database', 'cut-broker', 'stall-broker', 'clock-jump',
  ...SCENARIO_FAULTS,
];

/** a task suspended by the harness from `from` to `to` (epoch ms, the harness's clock) */
export interface Suspension {
  taskId: string;
  from: number;
  to: number;
}

export interface FaultCounts {
  kills: number;
  cuts: number;
  log: string[];
  /**
   * worker ids (slot-generation) killed with SIGKILL or whose host vanished past worker_timeout: they may
   * have been declared dead, so their attempts may be failed and retried by design
   */
  killedWorkers: Set<string>;
  suspensions: Suspension[];
  /** per vanished leader host: ms until another dispatcher fired (the hold when none did) */
  leaderRecoveriesMs: number[];
}

export interface FaultTiming {
  /** how long a cut, a stall or a clock jump lasts, and how long a killed process stays down */
  holdMs: () => number;
  /** how long a vanished leader host stays away (> 60 s in the long form) */
  vanishMs: number;
}

/** what some faults need besides the topology */
export interface FaultWorld {
  sql: pg.Client;
  /** scheduled tasks that suspend/resume and pool changes may act on */
  movable: string[];
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function pick<T>(items: T[], random: () => number): T | undefined {
  return items[Math.floor(random() * items.length)];
}

/** A small seeded PRNG (mulberry32), so that a run's sequence of faults can be replayed with --seed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

export const stamp = (): string => new Date().toISOString().slice(11, 23);

/** Applies one fault and undoes it; returns false when it did not apply (no leader at that moment). */
export async function inject(kind: FaultKind, topo: Topology, counts: FaultCounts, timing: FaultTiming, random: () => number, world: FaultWorld): Promise<boolean> {
  const note = (what: string) => counts.log.push(`${stamp()} ${what}`);
  const alive = (role: Member['role']) => topo.of(role).filter((m) => !m.proc.exited);
  const bounce = async (member: Member | undefined, signal: 'SIGKILL' | 'SIGTERM') => {
    if (!member) return false;
    note(`${signal} ${member.slot}-${member.generation}${member.leading ? ' (leader)' : ''}`);
    if (member.role === 'worker' && signal === 'SIGKILL') counts.killedWorkers.add(`${member.slot}-${member.generation}`);
    await topo.stop(member, signal);
    counts.kills++;
    await sleep(timing.holdMs());
    void topo.restart(member);
    return true;
  };
  switch (kind) {
    case 'kill-leader':
      return bounce(topo.leader, 'SIGKILL');
    case 'term-leader':
      return bounce(topo.leader, 'SIGTERM');
    case 'kill-standby':
      return bounce(pick(alive('dispatcher').filter((m) => !m.leading), random), 'SIGKILL');
    case 'kill-worker':
      return bounce(pick(alive('worker'), random), 'SIGKILL');
    case 'term-worker':
      return bounce(pick(alive('worker'), random), 'SIGTERM');
    case 'cut-database':
    case 'stall-database':
    case 'cut-broker':
    case 'stall-broker': {
      const proxy = kind.endsWith('database') ? topo.dbProxy : topo.brokerProxy;
      if (!proxy) return false;
      const hold = timing.holdMs();
      note(`${kind} for ${hold} ms (${proxy.connections} connections)`);
      if (kind.startsWith('cut')) proxy.cut();
      else proxy.stall();
      counts.cuts++;
      await sleep(hold);
      proxy.restore();
      return true;
    }
    case 'clock-jump': {
      // the leader (fires), a worker (reports times) or the API (a manual run's time is its key)
      const target = random() < 0.5 ? topo.leader : pick([...alive('worker'), ...alive('api')], random);
      if (!target) return false;
      const offset = (random() < 0.5 ? -1 : 1) * 15_000;
      note(`clock of ${target.slot}-${target.generation}${target.leading ? ' (leader)' : ''} jumps ${offset / 1000}s`);
      topo.setClockOffset(target, offset);
      await sleep(timing.holdMs());
      topo.setClockOffset(target, 0);
      note(`clock of ${target.slot}-${target.generation} back`);
      return true;
    }
    case 'vanish-leader-host':
      return vanishLeaderHost(topo, counts, world.sql, timing.vanishMs, note);
    case 'vanish-standby-host':
      return vanishStandbyHost(topo, counts, timing.holdMs() + 6000, random, note);
    case 'vanish-worker-host':
      return vanishWorkerHost(topo, counts, timing.holdMs() + CHAOS_WORKER_TIMEOUT_SECONDS * 1000, random, note);
    case 'rolling-drain':
      return rollingDrain(topo, counts, note);
    case 'suspend-resume':
      return suspendResume(topo, counts, world.movable, timing.holdMs(), random, note);
    case 'change-pool':
      return changePool(topo, world.movable, timing.holdMs(), random, note);
  }
}
