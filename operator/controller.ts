import type { Logger } from 'pino';
import { API_GROUP, API_VERSION_NAME } from '../core/model/resource.ts';
import { describeKubeError, type KubeClients, type KubeObject } from './kube.ts';
import type { OperatorMetrics } from './metrics.ts';
import { Reflector } from './reflector.ts';
import { WorkQueue } from './work-queue.ts';

export interface ReconcileResult {
  /** look again after this long even if nothing changes (next schedule slot, backlog poll) */
  requeueAfterMs?: number;
}

/** One kind's reconcile: given the key and the cached object (undefined once deleted), make the world match. */
export type Reconcile = (key: string, object: KubeObject | undefined) => Promise<ReconcileResult | void>;

export interface ControllerOptions {
  kind: string;
  plural: string;
  /** namespaces to watch; empty: all namespaces */
  namespaces: string[];
  kube: KubeClients;
  reconcile: Reconcile;
  /** called with every list before its objects are queued (bulk work of an initial sync or a resync) */
  prime?: (objects: KubeObject[]) => Promise<void>;
  /** a full list was taken in (cache replaced, its objects queued) */
  listed?: () => void;
  /** an object was deleted (seen by the watch or a relist), with its last state, before its key is queued */
  deleted?: (key: string, object: KubeObject) => void;
  /** names (same namespace) to reconcile too when an object changes or is deleted: those whose outcome depends on it */
  related?: (object: KubeObject, deleted: boolean) => string[];
  /** keys reconciled at once */
  workers: number;
  resyncMs: number;
  backoffMinMs: number;
  backoffMaxMs: number;
  metrics: OperatorMetrics;
  logger: Logger;
}

/**
 * A controller for one custom resource kind: reflectors fill a cache and add keys to a de-duplicating,
 * rate-limited work queue; workers reconcile one key at a time. Reconciles are level-triggered: they see
 * only the key and the current object, never which event caused them, so a relist or a retry is harmless.
 */
export class Controller {
  readonly queue: WorkQueue;
  private readonly reflectors: Reflector[];
  private workers: Promise<void>[] = [];
  private readonly options: ControllerOptions;

  constructor(options: ControllerOptions) {
    this.options = options;
    this.queue = new WorkQueue({ retryBaseMs: options.backoffMinMs, retryMaxMs: options.backoffMaxMs });
    const scopes = options.namespaces.length > 0 ? options.namespaces : [undefined];
    this.reflectors = scopes.map((namespace) => this.reflectorFor(namespace));
  }

  get synced(): boolean {
    return this.reflectors.every((r) => r.hasSynced);
  }

  /** The cached object of a key, if any reflector holds it. */
  get(key: string): KubeObject | undefined {
    for (const reflector of this.reflectors) {
      const object = reflector.cache.get(key);
      if (object) return object;
    }
    return undefined;
  }

  objects(): KubeObject[] {
    return this.reflectors.flatMap((r) => [...r.cache.values()]);
  }

  keys(): string[] {
    return this.reflectors.flatMap((r) => [...r.cache.keys()]);
  }

  enqueue(key: string): void {
    this.queue.add(key);
    this.updateDepth();
  }

  start(): void {
    for (const reflector of this.reflectors) reflector.start();
    this.workers = Array.from({ length: this.options.workers }, () => this.work());
  }

  async stop(): Promise<void> {
    this.queue.shutDown();
    await Promise.all(this.reflectors.map((r) => r.stop()));
    await Promise.all(this.workers);
  }

  private reflectorFor(namespace: string | undefined): Reflector {
    const { kube, plural, kind, metrics } = this.options;
    const base = `/apis/${API_GROUP}/${API_VERSION_NAME}`;
    const path = namespace ? `${base}/namespaces/${namespace}/${plural}` : `${base}/${plural}`;
    const list = async () => {
      const result = (namespace
        ? await kube.custom.listNamespacedCustomObject({ group: API_GROUP, version: API_VERSION_NAME, namespace, plural })
        : await kube.custom.listClusterCustomObject({ group: API_GROUP, version: API_VERSION_NAME, plural })) as { items?: KubeObject[]; metadata?: { resourceVersion?: string } };
      return { items: result.items ?? [], resourceVersion: result.metadata?.resourceVersion ?? '' };
    };
    return new Reflector({
      name: `${plural}/${namespace ?? '*'}`,
      path,
      list,
      config: kube.config,
      resyncMs: this.options.resyncMs,
      backoffMinMs: this.options.backoffMinMs,
      backoffMaxMs: this.options.backoffMaxMs,
      logger: this.options.logger,
      onChange: (type, object) => {
        const key = `${object.metadata.namespace ?? ''}/${object.metadata.name}`;
        if (type === 'DELETED') this.options.deleted?.(key, object);
        this.enqueue(key);
        for (const name of this.options.related?.(object, type === 'DELETED') ?? []) this.enqueue(`${object.metadata.namespace ?? ''}/${name}`);
      },
      ...(this.options.prime ? { onRelist: this.options.prime } : {}),
      onRestart: (reason) => metrics.watchRestarts.inc({ kind, reason }),
      onListed: () => {
        metrics.relists.inc({ kind });
        this.options.listed?.();
      },
    });
  }

  private async work(): Promise<void> {
    const { kind, metrics, logger } = this.options;
    for (;;) {
      const key = await this.queue.get();
      this.updateDepth();
      if (key === undefined) return;
      const end = metrics.reconcileSeconds.startTimer({ kind });
      try {
        const result = await this.options.reconcile(key, this.get(key));
        this.queue.forget(key);
        metrics.reconciles.inc({ kind, result: 'success' });
        if (result?.requeueAfterMs !== undefined) this.queue.addAfter(key, result.requeueAfterMs);
      } catch (error) {
        metrics.reconciles.inc({ kind, result: 'error' });
        metrics.reconcileErrors.inc({ kind });
        const delay = this.queue.addRateLimited(key);
        logger.warn({ kind, key, err: describeKubeError(error), retryInMs: delay }, 'reconcile failed; retrying with backoff');
      } finally {
        end();
        this.queue.done(key);
        this.updateDepth();
      }
    }
  }

  private updateDepth(): void {
    this.options.metrics.queueDepth.set({ kind: this.options.kind }, this.queue.depth);
  }
}
