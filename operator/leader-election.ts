import { V1MicroTime, type CoordinationV1Api, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { describeKubeError, isConflict, isNotFound } from './kube.ts';

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  /** a leader that could not renew for this long steps down (before its lease can expire for others) */
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

export interface LeaderCallbacks {
  /** became the leader: start the work; resolves once started */
  onStartedLeading(): Promise<void>;
  /** lost (or gave up) leadership: stop the work; resolves once stopped */
  onStoppedLeading(): Promise<void>;
}

/**
 * client-go's Lease lock, in small. A candidate takes the Lease when it is free or when its renewTime has
 * not moved for leaseDuration as measured on the candidate's own clock (so clocks of different hosts are
 * never compared); the leader renews every retryPeriod and steps down when it could not renew within
 * renewDeadline, which is shorter than leaseDuration, so two leaders never overlap. Every write carries the
 * resourceVersion read, so two candidates racing for a free Lease cannot both win (409 for the loser).
 * On a clean stop the leader releases the Lease, and a standby takes over within one retryPeriod.
 */
export class LeaderElector {
  private leading = false;
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: () => void = () => {};
  /** the last lease record seen and when (local clock) it was first seen */
  private observed: { record: string; atMs: number } | undefined;
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
    let lastRenewMs = 0;
    while (this.running) {
      let acquired = false;
      try {
        acquired = await this.tryAcquireOrRenew();
      } catch (error) {
        this.logger.warn({ err: describeKubeError(error), lease: this.leaseName() }, 'leader election: lease update failed');
      }
      const now = Date.now();
      if (acquired) {
        lastRenewMs = now;
        if (!this.leading) {
          this.leading = true;
          this.logger.info({ lease: this.leaseName(), identity: this.options.identity }, 'became the operator leader');
          await this.callbacks.onStartedLeading();
        }
      } else if (this.leading && now - lastRenewMs >= this.options.renewDeadlineMs) {
        this.logger.warn({ lease: this.leaseName() }, 'could not renew the lease within the renew deadline; stepping down');
        await this.stepDown();
      }
      await this.sleep(this.options.retryPeriodMs);
    }
    if (this.leading) {
      await this.stepDown();
      await this.release().catch((error: unknown) => this.logger.warn({ err: describeKubeError(error) }, 'could not release the lease'));
    }
  }

  private async stepDown(): Promise<void> {
    this.leading = false;
    await this.callbacks.onStoppedLeading().catch((error: Error) => this.logger.error({ err: error.message }, 'stopping leader work failed'));
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.options;
    const now = new V1MicroTime(Date.now());
    const durationSeconds = Math.max(1, Math.round(this.options.leaseDurationMs / 1000));
    let lease: V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ name, namespace });
    } catch (error) {
      if (!isNotFound(error)) throw error;
      try {
        await this.api.createNamespacedLease({
          namespace,
          body: { metadata: { name, namespace }, spec: { holderIdentity: identity, leaseDurationSeconds: durationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 } },
        });
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
    if (this.observed?.record !== record) this.observed = { record, atMs: Date.now() };
    const heldByOther = holder !== '' && holder !== identity;
    const leaseMs = (spec.leaseDurationSeconds ?? durationSeconds) * 1000;
    if (heldByOther && Date.now() < (this.observed?.atMs ?? 0) + leaseMs) return false;
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
      });
      return true;
    } catch (error) {
      if (isConflict(error)) return false;
      throw error;
    }
  }

  /** Hands the Lease back so a standby need not wait for it to expire. */
  private async release(): Promise<void> {
    const { namespace, name, identity } = this.options;
    const lease = await this.api.readNamespacedLease({ name, namespace });
    if (lease.spec?.holderIdentity !== identity) return;
    await this.api.replaceNamespacedLease({
      name,
      namespace,
      body: { metadata: lease.metadata, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: new V1MicroTime(Date.now()) } },
    });
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
