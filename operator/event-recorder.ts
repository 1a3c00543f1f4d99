import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { CoreV1Api } from '@kubernetes/client-node';
import { MERGE_PATCH, describeKubeError, httpStatus, isConflict, isNotFound, type KubeObject } from './kube.ts';
import type { OperatorMetrics } from './metrics.ts';
import type { EventSpec } from './run-events.ts';

export const EVENT_SOURCE = 'hourglass-operator';

/** an Event's name is a DNS subdomain: at most 253 characters */
const MAX_NAME = 253;
const HASH_CHARS = 16;
/** series kept in memory; an evicted one is found again by its name (409 on create) */
const MAX_SERIES = 10_000;

/**
 * The name of the Event that aggregates one (object, type, reason, message): the object's name cut so the
 * whole fits in 253 characters, then a hash of the series. Deterministic, so a new leader (or a restart)
 * adds to the same Event instead of starting another, and always valid, whatever the object's name.
 */
export function eventName(object: KubeObject, event: EventSpec): string {
  const series = JSON.stringify([object.kind, object.metadata.namespace, object.metadata.name, object.metadata.uid ?? '', event.type, event.reason, event.message]);
  const hash = createHash('sha256').update(series).digest('hex').slice(0, HASH_CHARS);
  const base = object.metadata.name.slice(0, MAX_NAME - HASH_CHARS - 1).replace(/[^a-z0-9]+$/, '');
  return `${base || 'object'}.${hash}`;
}

/**
 * Writes core/v1 Events (what `kubectl describe` and `kubectl get events` show) about a custom resource.
 * Like the Kubernetes event recorder, an Event that repeats (same object, type, reason and message) is one
 * object whose count and lastTimestamp grow, not a new object each time.
 */
export class EventRecorder {
  private readonly api: CoreV1Api;
  private readonly logger: Logger;
  private readonly metrics: OperatorMetrics;
  private readonly instance: string;
  /** event name -> count last written */
  private readonly counts = new Map<string, number>();
  /** event name -> the write of that series in progress: writes of one series go one at a time, so no increment is lost */
  private readonly writing = new Map<string, Promise<void>>();

  constructor(api: CoreV1Api, logger: Logger, metrics: OperatorMetrics, instance: string) {
    this.api = api;
    this.logger = logger;
    this.metrics = metrics;
    this.instance = instance;
  }

  /** Best effort: an Event that cannot be written is logged, never allowed to fail a reconcile. */
  async record(object: KubeObject, event: EventSpec): Promise<void> {
    await this.recordOrThrow(object, event).catch(() => undefined);
  }

  /**
   * For Events that follow a durable cursor: throws when the API could not be reached (timeout, 5xx, 429),
   * so the caller keeps its cursor and the Event is written later, by this leader or the next. An Event the
   * API refuses (another 4xx) would be refused again: it is logged and dropped.
   */
  async recordOrThrow(object: KubeObject, event: EventSpec): Promise<void> {
    const name = eventName(object, event);
    const previous = this.writing.get(name) ?? Promise.resolve();
    const mine = previous.catch(() => undefined).then(() => this.write(object, event, name));
    this.writing.set(name, mine);
    try {
      await mine;
    } finally {
      if (this.writing.get(name) === mine) this.writing.delete(name);
    }
  }

  private async write(object: KubeObject, event: EventSpec, name: string): Promise<void> {
    const namespace = object.metadata.namespace ?? 'default';
    try {
      const known = this.counts.get(name);
      const count = known !== undefined ? await this.increment(namespace, name, known) : await this.create(namespace, name, object, event);
      this.remember(name, count);
      this.metrics.events.inc({ reason: event.reason });
    } catch (error) {
      this.counts.delete(name);
      this.logger.warn({ err: describeKubeError(error), reason: event.reason, object: `${namespace}/${object.metadata.name}` }, 'could not record an event');
      const status = httpStatus(error);
      if (status === undefined || status >= 500 || status === 429 || status === 408) throw error;
    }
  }

  private async create(namespace: string, name: string, object: KubeObject, event: EventSpec): Promise<number> {
    const now = new Date();
    try {
      await this.api.createNamespacedEvent({
        namespace,
        body: {
          metadata: { name, namespace },
          involvedObject: {
            apiVersion: object.apiVersion,
            kind: object.kind,
            name: object.metadata.name,
            namespace,
            ...(object.metadata.uid ? { uid: object.metadata.uid } : {}),
          },
          type: event.type,
          reason: event.reason,
          message: event.message.slice(0, 1024),
          source: { component: EVENT_SOURCE },
          reportingComponent: EVENT_SOURCE,
          reportingInstance: this.instance,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
      return 1;
    } catch (error) {
      if (!isConflict(error)) throw error;
      // the series exists (written by an earlier leader or before a restart): continue its count
      const existing = await this.api.readNamespacedEvent({ name, namespace });
      return this.increment(namespace, name, existing.count ?? 1);
    }
  }

  private async increment(namespace: string, name: string, count: number): Promise<number> {
    try {
      await this.api.patchNamespacedEvent({ name, namespace, body: { count: count + 1, lastTimestamp: new Date().toISOString(), reportingInstance: this.instance } }, MERGE_PATCH);
      return count + 1;
    } catch (error) {
      // expired (Events have a time to live) or deleted: the caller starts the series again
      if (isNotFound(error)) this.counts.delete(name);
      throw error;
    }
  }

  private remember(name: string, count: number): void {
    this.counts.delete(name);
    this.counts.set(name, count);
    if (this.counts.size > MAX_SERIES) this.counts.delete(this.counts.keys().next().value as string);
  }
}
