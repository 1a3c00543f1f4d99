import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** What /metrics says about the operator, registered in the process's registry. */
export function createOperatorMetrics(registry: Registry) {
  const registers = [registry];
  return {
    reconciles: new Counter({ name: 'hourglass_operator_reconcile_total', help: 'Reconciles, by kind and result (success, error)', labelNames: ['kind', 'result'], registers }),
    reconcileErrors: new Counter({ name: 'hourglass_operator_reconcile_errors_total', help: 'Reconciles that failed and were retried with backoff, by kind', labelNames: ['kind'], registers }),
    reconcileSeconds: new Histogram({ name: 'hourglass_operator_reconcile_duration_seconds', help: 'Time one reconcile took, by kind', labelNames: ['kind'], buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers }),
    queueDepth: new Gauge({ name: 'hourglass_operator_queue_depth', help: 'Keys waiting in the work queue, by kind', labelNames: ['kind'], registers }),
    watchRestarts: new Counter({ name: 'hourglass_operator_watch_restarts_total', help: 'Watches restarted, by kind and reason (timeout, closed, dropped, gone, error)', labelNames: ['kind', 'reason'], registers }),
    relists: new Counter({ name: 'hourglass_operator_relists_total', help: 'Full lists taken in (initial sync, periodic resync, after 410 Gone), counted once their objects are queued, by kind', labelNames: ['kind'], registers }),
    isLeader: new Gauge({ name: 'hourglass_operator_leader', help: '1 while this operator replica holds the Lease', registers }),
    events: new Counter({ name: 'hourglass_operator_events_total', help: 'Kubernetes Events emitted, by reason', labelNames: ['reason'], registers }),
  };
}
export type OperatorMetrics = ReturnType<typeof createOperatorMetrics>;
