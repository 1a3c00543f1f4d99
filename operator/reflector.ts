import { Watch, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { httpStatus, objectKey, type KubeObject } from './kube.ts';

export type ReflectorEvent = 'ADDED' | 'MODIFIED' | 'DELETED' | 'RELIST';

export interface ReflectorOptions {
  /** for logs and metrics, e.g. "scheduledtasks/default" */
  name: string;
  /** the collection path, e.g. /apis/scheduling.hourglass.dev/v1alpha1/namespaces/default/scheduledtasks */
  path: string;
  list(): Promise<{ items: KubeObject[]; resourceVersion: string }>;
  config: KubeConfig;
  /** a full relist this often, even when every watch is healthy (a missed event cannot last longer) */
  resyncMs: number;
  backoffMinMs: number;
  backoffMaxMs: number;
  logger: Logger;
  onChange(type: ReflectorEvent, object: KubeObject): void;
  /** A list arrived, before its objects are reported: a chance to read or write for all of them at once. */
  onRelist?(items: KubeObject[]): Promise<void>;
  /** A list was taken in: the cache holds it and its objects were reported. */
  onListed?(): void;
  /** the watch ended and is being restarted; reason is timeout, closed, dropped (cut mid-stream), gone (410) or error */
  onRestart(reason: RestartReason): void;
}

export type RestartReason = 'timeout' | 'closed' | 'dropped' | 'gone' | 'error';

type WatchEnd = { reason: RestartReason; error?: unknown; events: number };

class Gone extends Error {}

/**
 * List, then watch from the list's resourceVersion, keeping a cache of the objects. client-node's informer
 * stops for good on any error other than a timeout, so this loop owns the whole lifecycle instead: a watch
 * that ends, or is cut mid-stream, is resumed from the last resourceVersion seen; 410 Gone (history
 * expired) relists; a watch or list that cannot be opened backs off exponentially, with jitter, then relists. A periodic relist bounds how long a lost event
 * can go unnoticed. Deletions seen only through a relist are reported as DELETED with the last known object,
 * also when a new object of the same name (another uid) took its place.
 */
export class Reflector {
  readonly cache = new Map<string, KubeObject>();
  private running = false;
  private abort: AbortController | undefined;
  private wake: () => void = () => {};
  private loop: Promise<void> | undefined;
  private synced = false;
  private readonly options: ReflectorOptions;

  constructor(options: ReflectorOptions) {
    this.options = options;
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.abort?.abort();
    this.wake();
    // a watch still connecting cannot be aborted before client-node hands back its controller: do not wait for it
    await Promise.race([this.loop, new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (this.running) {
      try {
        let resourceVersion = await this.relist();
        failures = 0;
        const relistAt = Date.now() + this.options.resyncMs;
        while (this.running && Date.now() < relistAt) {
          const started = Date.now();
          const end = await this.watchOnce(resourceVersion, relistAt - Date.now(), (rv) => (resourceVersion = rv));
          if (!this.running) return;
          if (end.reason === 'gone') throw new Gone('resourceVersion expired (410 Gone)');
          if (end.reason === 'error') throw end.error instanceof Error ? end.error : new Error(String(end.error));
          this.options.onRestart(end.reason);
          // a server that closes every watch at once must not turn this into a hot loop
          if (end.reason === 'dropped' || (end.events === 0 && Date.now() - started < 1000)) await this.sleep(this.options.backoffMinMs);
        }
      } catch (error) {
        if (!this.running) return;
        if (error instanceof Gone) {
          this.options.onRestart('gone');
          this.options.logger.info({ reflector: this.options.name }, 'watch history expired (410 Gone); relisting');
          continue;
        }
        failures += 1;
        this.options.onRestart('error');
        const delay = Math.min(this.options.backoffMinMs * 2 ** (failures - 1), this.options.backoffMaxMs) * (0.8 + Math.random() * 0.4);
        this.options.logger.warn({ reflector: this.options.name, err: (error as Error).message, retryInMs: Math.round(delay) }, 'list/watch failed; retrying');
        await this.sleep(delay);
      }
    }
  }

  /** Replaces the cache with a fresh list; every object is reported, so reconcilers see the world again. */
  private async relist(): Promise<string> {
    const { items, resourceVersion } = await this.options.list();
    // an optimisation only: a failure leaves each object to its own reconcile
    await this.options.onRelist?.(items).catch((error: unknown) => this.options.logger.warn({ reflector: this.options.name, err: (error as Error).message }, 'bulk preparation of a relist failed; reconciling one by one'));
    const seen = new Set<string>();
    for (const item of items) {
      const key = objectKey(item);
      seen.add(key);
      // deleted and created again under its name while the watch was away: that deletion is reported too
      const cached = this.cache.get(key);
      if (cached && cached.metadata.uid !== item.metadata.uid) this.options.onChange('DELETED', cached);
      this.cache.set(key, item);
      this.options.onChange('RELIST', item);
    }
    for (const [key, object] of this.cache) {
      if (seen.has(key)) continue;
      this.cache.delete(key);
      this.options.onChange('DELETED', object);
    }
    this.synced = true;
    this.options.onListed?.();
    return resourceVersion;
  }

  private watchOnce(resourceVersion: string, maxMs: number, advance: (rv: string) => void): Promise<WatchEnd> {
    return new Promise((resolve) => {
      let events = 0;
      let settled = false;
      const finish = (end: Omit<WatchEnd, 'events'>) => {
        if (settled) return;
        settled = true;
        clearTimeout(limit);
        resolve({ ...end, events });
      };
      const controller: { current?: AbortController } = {};
      // the watch is bounded by the next periodic relist
      const limit = setTimeout(() => {
        controller.current?.abort();
        finish({ reason: 'closed' });
      }, Math.max(1000, maxMs));
      limit.unref();
      const onEvent = (type: string, object: KubeObject & { code?: number }) => {
        if (settled) return;
        if (type === 'ERROR') {
          const gone = object?.code === 410;
          controller.current?.abort();
          finish(gone ? { reason: 'gone' } : { reason: 'error', error: new Error(`watch error event: ${JSON.stringify(object)}`) });
          return;
        }
        const rv = object?.metadata?.resourceVersion;
        if (rv) advance(rv);
        if (type === 'BOOKMARK') return;
        events += 1;
        const key = objectKey(object);
        if (type === 'DELETED') this.cache.delete(key);
        else this.cache.set(key, object);
        this.options.onChange(type as ReflectorEvent, object);
      };
      const onDone = (error: unknown) => {
        if (!error) return finish({ reason: 'closed' });
        if ((error as { name?: string }).name === 'TimeoutError') return finish({ reason: 'timeout' });
        if ((error as { name?: string }).name === 'AbortError' && !this.running) return finish({ reason: 'closed' });
        if (httpStatus(error) === 410) return finish({ reason: 'gone' });
        // cut after it was established (a proxy, an apiserver restart): resume from the last resourceVersion
        // like client-go; only a watch that cannot be opened again backs off and relists
        if (controller.current !== undefined) return finish({ reason: 'dropped', error });
        finish({ reason: 'error', error });
      };
      new Watch(this.options.config)
        .watch(this.options.path, { resourceVersion, allowWatchBookmarks: true }, onEvent, onDone)
        .then(
          (abort) => {
            controller.current = abort;
            this.abort = abort;
            if (!this.running || settled) abort.abort();
          },
          (error: unknown) => finish({ reason: 'error', error }),
        );
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      timer.unref();
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
