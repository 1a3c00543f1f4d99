/**
 * consumeStatus for the core: reads the status and heartbeat streams as group `core`, hands each batch to
 * the handler until it accepts it, then XACKs and XDELs the batch. Entries left pending by a core that
 * died are XAUTOCLAIMed after claimIdleMs. Undecodable entries go to the status dead stream.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import { decodeStatusEvent, retryUntilAccepted, sleep } from '../codec.ts';
import type { StatusEvent } from '../port.ts';
import { createGroup, execErrors, isNoGroup, newClient, type ClientTarget } from './client.ts';
import { CORE_GROUP, FIELD } from './keys.ts';
import type { Keys } from './keys.ts';
import type { StreamTimings } from './options.ts';
import { field, parseAutoclaim, parseRead } from './replies.ts';
import type { StreamEntry } from './replies.ts';

const STATUS_BATCH = 500;

type StatusHandler = (events: StatusEvent[]) => Promise<void>;

/** Creates the `core` groups, then starts the loop on its own blocking connection. */
export async function startStatusLoop(cmd: Redis, target: ClientTarget, keys: Keys, timings: StreamTimings, handler: StatusHandler): Promise<StatusLoop> {
  const consumerName = `core-${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
  const blk = newClient(target, `hourglass-core-status-${process.pid}`, true);
  const streams = [keys.status, keys.heartbeat];
  await Promise.all(streams.map((key) => createGroup(cmd, key, CORE_GROUP)));
  return new StatusLoop({ cmd, blk, keys, timings, handler, consumerName, streams });
}

interface LoopParts {
  cmd: Redis;
  blk: Redis;
  keys: Keys;
  timings: StreamTimings;
  handler: StatusHandler;
  consumerName: string;
  streams: string[];
}

export class StatusLoop {
  readonly #p: LoopParts;
  readonly #stop = new AbortController();
  readonly #loop: Promise<void>;
  #lastAutoclaim = 0;

  constructor(parts: LoopParts) {
    this.#p = parts;
    this.#loop = this.#run();
  }

  get stopped(): boolean {
    return this.#stop.signal.aborted;
  }

  async stop(): Promise<void> {
    if (this.#stop.signal.aborted) return;
    this.#stop.abort();
    this.#p.blk.disconnect();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    let errorDelay = 100;
    while (!signal.aborted) {
      try {
        const entries = await this.#read();
        errorDelay = 100;
        if (entries.length === 0) continue;
        if (!(await this.#deliver(entries))) break; // closing: left pending, another core consumer XAUTOCLAIMs it
      } catch (error) {
        if (signal.aborted) break;
        if (isNoGroup(error)) await Promise.all(this.#p.streams.map((key) => createGroup(this.#p.cmd, key, CORE_GROUP))).catch(() => {});
        await sleep(errorDelay, signal);
        errorDelay = Math.min(errorDelay * 2, 5000);
      }
    }
  }

  /** Stuck entries first (every claimIdleMs / 2), else a blocking read of new ones. */
  async #read(): Promise<StreamEntry[]> {
    const { cmd, blk, consumerName, streams } = this.#p;
    const { claimIdleMs, readTimeoutMs } = this.#p.timings;
    let entries: StreamEntry[] = [];
    if (Date.now() - this.#lastAutoclaim >= claimIdleMs / 2) {
      this.#lastAutoclaim = Date.now();
      for (const key of streams) {
        const reply = await cmd.call('XAUTOCLAIM', key, CORE_GROUP, consumerName, claimIdleMs, '0-0', 'COUNT', STATUS_BATCH);
        entries.push(...parseAutoclaim(key, reply));
      }
    }
    if (entries.length === 0) {
      const block = Math.max(1, Math.min(readTimeoutMs, claimIdleMs));
      const reply = await blk.call('XREADGROUP', 'GROUP', CORE_GROUP, consumerName, 'COUNT', STATUS_BATCH, 'BLOCK', block, 'STREAMS', ...streams, '>', '>');
      entries = parseRead(reply);
    }
    return entries;
  }

  /** false when closing interrupted the hand-over: nothing is acked then. */
  async #deliver(entries: StreamEntry[]): Promise<boolean> {
    const events = await this.#decode(entries);
    const signal = this.#stop.signal;
    const handled = events.length === 0 || (await retryUntilAccepted(() => this.#p.handler(events), () => !signal.aborted, signal));
    if (!handled) return false;
    await this.#ack(entries);
    return true;
  }

  /** Entries deleted while pending (no fields) are skipped; undecodable ones are dead-lettered. Both are acked with the batch. */
  async #decode(entries: StreamEntry[]): Promise<StatusEvent[]> {
    const events: StatusEvent[] = [];
    const bad: { entry: StreamEntry; reason: string }[] = [];
    for (const entry of entries) {
      const decoded = decodeStatusEvent(field(entry.fields, FIELD));
      if (decoded.ok) events.push(decoded.value);
      else if (entry.fields) bad.push({ entry, reason: decoded.reason });
    }
    if (bad.length > 0) {
      const tx = this.#p.cmd.multi();
      for (const { entry, reason } of bad) {
        tx.call('XADD', this.#p.keys.statusDead, '*', 'reason', reason, 'payload', field(entry.fields, FIELD) ?? '', 'stream', entry.key);
      }
      execErrors(await tx.exec());
    }
    return events;
  }

  /** Settled entries are XDEL'd, so the streams only hold undelivered or in-flight events. */
  async #ack(entries: StreamEntry[]): Promise<void> {
    const ack = this.#p.cmd.multi();
    for (const key of this.#p.streams) {
      const ids = entries.filter((e) => e.key === key).map((e) => e.id);
      if (ids.length === 0) continue;
      ack.call('XACK', key, CORE_GROUP, ...ids);
      ack.call('XDEL', key, ...ids);
    }
    execErrors(await ack.exec());
  }
}
