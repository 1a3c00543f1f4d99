import { V1MicroTime, type CoordinationV1Api, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { abortableBy, describeKubeError, isConflict, isNotFound } from './kube.ts';

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  /** a leader that could not renew for this long steps down (before its lease can expire for others) */
  renewDeadlineMs: number;
  retryPeriodMs: number;
  /** no single Lease call may take longer than this (a leader's renew is also bounded by its deadline) */
  callTimeoutMs: number;
}

export interface LeaderCallbacks {
  /** became the leader: start the work; resolves once started */
  onStartedLeading(): Promise<void>;
  /** lost (or gave up) leadership: stop the work; resolves once stopped */
  onStoppedLeading(): Promise<void>;
}

/** monotonic milliseconds: a wall clock stepped by NTP must not stretch or shrink a deadline */
const monotonicMs = (): number => performance.now();

/**
 * client-go's Lease lock, in small. A candidate takes the Lease when it is free or when its record has not
 * changed for leaseDuration as measured on the candidate's own clock from when it first saw that record (so
 * clocks of different hosts are never compared); the leader renews every retryPeriod.
 *
 * Why two leaders never overlap: a renew that succeeds was committed after it was sent, so every other
 * replica first sees it no earlier than the send time S, and cannot take the Lease before S + leaseDuration.
 * The leader counts its deadline from S too (not from when the answer came back: an answer held up by the
 * network would push the deadline past the others' expiry), and every Lease call is aborted when the
 * deadline S + renewDeadline comes, so a call that hangs on a dead connection cannot keep it leading. At the
 * deadline it stops all leader work (the callback aborts every request of the term), which must take less
 * than leaseDuration - renewDeadline. Every write carries the resourceVersion read, so two candidates racing
 * for a free Lease cannot both win (409 for the loser). On a clean stop the leader releases the Lease.
 *
 * Takeover after the leader dies without releasing: a standby wakes exactly when the record it last saw
 * expires, so it leads within leaseDuration of first seeing the last renew, which is at most retryPeriod
 * after that renew: leaseDuration + retryPeriod after the death at worst, plus one Lease round trip.
 */
export class LeaderElector {
  private leading = false;
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: () => void = () => {};
  /** the last lease record seen and when (monotonic) it was first seen */
  private observed: { record: string; atMs: number; leaseMs: number; holder: string } | undefined;
  private readonly api: CoordinationV1Api;
  private readonly options: LeaderElectionOptions;
  private readonly callbacks: LeaderCallbacks;
  private readonly logger: Logger;

  constructor(api: CoordinationV1Api, options: LeaderElectionOptions, callbacks: LeaderCallbacks, logger: Logger) {
    this.api = api;
    this.options = options;
    this.callbacks = callbacks;
    this.logger = logger;
  }

  isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await this.loop;
  }

  private async run(): Promise<void> {
    /** when (monotonic) the last successful renew was sent */
    let renewSentMs = 0;
    while (this.running) {
      const sentMs = monotonicMs();
      const budgetMs = this.leading ? Math.min(this.options.callTimeoutMs, renewSentMs + this.options.renewDeadlineMs - sentMs) : this.options.callTimeoutMs;
      let acquired = false;
      if (budgetMs > 0) {
        try {
          acquired = await this.withDeadline(budgetMs, (signal) => this.tryAcquireOrRenew(signal));
        } catch (error) {
          this.logger.warn({ err: describeKubeError(error), lease: this.leaseName() }, 'leader election: lease update failed');
        }
      }
      if (acquired) {
        renewSentMs = sentMs;
        if (!this.leading) {
          this.leading = true;
          this.logger.info({ lease: this.leaseName(), identity: this.options.identity }, 'became the operator leader');
          await this.callbacks.onStartedLeading();
        }
      } else if (this.leading && monotonicMs() - renewSentMs >= this.options.renewDeadlineMs) {
        this.logger.warn({ lease: this.leaseName(), renewDeadlineMs: this.options.renewDeadlineMs }, 'could not renew the lease within the renew deadline; stepping down');
        await this.stepDown();
      }
      if (!this.running) break;
      await this.sleep(this.nextAttemptInMs(renewSentMs));
    }
    if (this.leading) {
      await this.stepDown();
      await this.withDeadline(this.options.callTimeoutMs, (signal) => this.release(signal))
        .catch((error: unknown) => this.logger.warn({ err: describeKubeError(error) }, 'could not release the lease'));
    }
  }

  /** A leader retries at once after a failed renew while its deadline allows; a standby wakes when the lease it saw expires. */
  private nextAttemptInMs(renewSentMs: number): number {
    const { retryPeriodMs, renewDeadlineMs, identity } = this.options;
    if (this.leading) return Math.max(0, Math.min(retryPeriodMs, renewSentMs + renewDeadlineMs - monotonicMs()));
    const seen = this.observed;
    if (!seen || seen.holder === '' || seen.holder === identity) return retryPeriodMs;
    const untilExpiry = seen.atMs + seen.leaseMs - monotonicMs();
    return Math.max(0, Math.min(retryPeriodMs, untilExpiry + 1));
  }

  /** Runs a call with an AbortSignal that fires after ms; rejects then even if the call ignores the signal. */
  private async withDeadline<T>(ms: number, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        const error = new Error(`lease call gave no answer within ${Math.round(ms)} ms`);
        controller.abort(error);
        reject(error);
      }, ms);
    });
    try {
      return await Promise.race([call(controller.signal), expired]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async stepDown(): Promise<void> {
    this.leading = false;
    await this.callbacks.onStoppedLeading().catch((error: Error) => this.logger.error({ err: error.message }, 'stopping leader work failed'));
  }

  private async tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    const { namespace, name, identity } = this.options;
    const now = new V1MicroTime(Date.now());
    const durationSeconds = Math.max(1, Math.round(this.options.leaseDurationMs / 1000));
    const options = abortableBy(signal);
    let lease: V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ name, namespace }, options);
    } catch (error) {
      if (!isNotFound(error)) throw error;
      try {
        await this.api.createNamespacedLease({
          namespace,
          body: { metadata: { name, namespace }, spec: { holderIdentity: identity, leaseDurationSeconds: durationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 } },
        }, options);
        return true;
      } catch (createError) {
        // another candidate created it first (409 AlreadyExists)
        if (isConflict(createError)) return false;
        throw createError;
      }
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const record = `${holder}|${String(spec.renewTime ?? '')}|${spec.leaseTransitions ?? 0}`;
    const leaseMs = (spec.leaseDurationSeconds ?? durationSeconds) * 1000;
    if (this.observed?.record !== record) this.observed = { record, atMs: monotonicMs(), leaseMs, holder };
    const heldByOther = holder !== '' && holder !== identity;
    if (heldByOther && monotonicMs() < this.observed.atMs + leaseMs) return false;
    const transitions = (spec.leaseTransitions ?? 0) + (holder === identity ? 0 : 1);
    try {
      await this.api.replaceNamespacedLease({
        name,
        namespace,
        body: {
          metadata: { ...lease.metadata, name, namespace },
          spec: {
            holderIdentity: identity,
            leaseDurationSeconds: durationSeconds,
            acquireTime: holder === identity && spec.acquireTime ? new V1MicroTime(new Date(spec.acquireTime).getTime()) : now,
            renewTime: now,
            leaseTransitions: transitions,
          },
        },
      }, options);
      return true;
    } catch (error) {
      if (isConflict(error)) return false;
      throw error;
    }
  }

  /** Hands the Lease back so a standby need not wait for it to expire. */
  private async release(signal: AbortSignal): Promise<void> {
    const { namespace, name, identity } = this.options;
    const options = abortableBy(signal);
    const lease = await this.api.readNamespacedLease({ name, namespace }, options);
    if (lease.spec?.holderIdentity !== identity) return;
    await this.api.replaceNamespacedLease({
      name,
      namespace,
      body: { metadata: lease.metadata, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: new V1MicroTime(Date.now()) } },
    }, options);
  }

  private leaseName(): string {
    return `${this.options.namespace}/${this.options.name}`;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
