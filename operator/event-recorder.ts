import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { CoreV1Api } from '@kubernetes/client-node';
import { describeKubeError, type KubeObject } from './kube.ts';
import type { OperatorMetrics } from './metrics.ts';
import type { EventSpec } from './run-events.ts';

export const EVENT_SOURCE = 'hourglass-operator';

/** Writes core/v1 Events (what `kubectl describe` and `kubectl get events` show) about a custom resource. */
export class EventRecorder {
  private readonly api: CoreV1Api;
  private readonly logger: Logger;
  private readonly metrics: OperatorMetrics;
  private readonly instance: string;

  constructor(api: CoreV1Api, logger: Logger, metrics: OperatorMetrics, instance: string) {
    this.api = api;
    this.logger = logger;
    this.metrics = metrics;
    this.instance = instance;
  }

  /** Best effort: an Event that cannot be written is logged, never allowed to fail a reconcile. */
  async record(object: KubeObject, event: EventSpec): Promise<void> {
    const namespace = object.metadata.namespace ?? 'default';
    const now = new Date();
    try {
      await this.api.createNamespacedEvent({
        namespace,
        body: {
          metadata: { name: `${object.metadata.name}.${Date.now().toString(16)}${randomBytes(3).toString('hex')}`, namespace },
          involvedObject: {
            apiVersion: object.apiVersion,
            kind: object.kind,
            name: object.metadata.name,
            namespace,
            ...(object.metadata.uid ? { uid: object.metadata.uid } : {}),
            ...(object.metadata.resourceVersion ? { resourceVersion: object.metadata.resourceVersion } : {}),
          },
          type: event.type,
          reason: event.reason,
          message: event.message.slice(0, 1024),
          source: { component: EVENT_SOURCE },
          reportingComponent: `${EVENT_SOURCE}`,
          reportingInstance: this.instance,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
      this.metrics.events.inc({ reason: event.reason });
    } catch (error) {
      this.logger.warn({ err: describeKubeError(error), reason: event.reason, object: `${namespace}/${object.metadata.name}` }, 'could not record an event');
    }
  }
}
