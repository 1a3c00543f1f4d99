import type { Logger } from 'pino';
import type { CoreContext } from '../core/dispatch/context.ts';
import { deleteKubernetesTask } from '../core/dispatch/kubernetes-task-writes.ts';
import { API_GROUP, API_VERSION_NAME, RESOURCE_KINDS } from '../core/model/resource.ts';
import type { EventRecorder } from './event-recorder.ts';
import { MERGE_PATCH, describeKubeError, isConflict, isNotFound, splitKey, type KubeClients, type KubeObject } from './kube.ts';

/**
 * The finalizer older operators put on every ScheduledTask. It is no longer added (it cost a second write per
 * object); objects that still carry it have it removed a few at a time, and when they are deleted, so that a
 * deletion never waits on it while an operator runs.
 */
export const TASK_FINALIZER = `${API_GROUP}/cancel-runs`;

/** Objects relieved of the old finalizer per second: an upgrade over 10,000 tasks spreads its writes over minutes. */
export const LEGACY_FINALIZER_REMOVALS_PER_S = 50;

export interface TaskDeletionDeps {
  ctx: CoreContext;
  kube: KubeClients;
  recorder: EventRecorder;
  logger: Logger;
  /** the cached object of a key */
  get: (key: string) => KubeObject | undefined;
}

export interface TaskDeletion {
  /** A DELETED event (watch or relist): the last state of the object, for its task's deletion and its Event. */
  deleted(key: string, object: KubeObject): void;
  /**
   * First step of every reconcile. The task of an object that is gone, being deleted, or replaced by a new object
   * of the same name (another uid) is deleted and its active runs cancelled. Returns true when there is nothing
   * more to reconcile (gone or being deleted).
   */
  settle(key: string, object: KubeObject | undefined): Promise<boolean>;
  /** Removes the old finalizer from up to `limit` live objects that still carry it. */
  removeLegacyFinalizers(limit: number): Promise<void>;
}

export function createTaskDeletion(deps: TaskDeletionDeps): TaskDeletion {
  const { ctx, kube, recorder, logger } = deps;
  /** last states of deleted objects whose task the next reconcile of their key deletes */
  const tombstones = new Map<string, KubeObject>();
  /** live objects seen with the old finalizer */
  const legacy = new Set<string>();

  const patchFinalizers = (object: KubeObject, finalizers: string[]): Promise<KubeObject> => {
    const { namespace = '', name } = object.metadata;
    // the resourceVersion makes it a compare-and-swap: a finalizer another controller added meanwhile is kept
    const body = { metadata: { finalizers: finalizers.length > 0 ? finalizers : null, resourceVersion: object.metadata.resourceVersion } };
    return kube.custom.patchNamespacedCustomObject({ group: API_GROUP, version: API_VERSION_NAME, namespace, plural: RESOURCE_KINDS.ScheduledTask.plural, name, body }, MERGE_PATCH);
  };
  const withoutOurs = (object: KubeObject) => (object.metadata.finalizers ?? []).filter((f) => f !== TASK_FINALIZER);
  const carries = (object: KubeObject) => (object.metadata.finalizers ?? []).includes(TASK_FINALIZER);

  async function settle(key: string, object: KubeObject | undefined): Promise<boolean> {
    const tombstone = tombstones.get(key);
    const replaced = tombstone !== undefined && object !== undefined && tombstone.metadata.uid !== object.metadata.uid;
    if (!object || object.metadata.deletionTimestamp || replaced) {
      const { namespace, name } = splitKey(key);
      const cancelled = await deleteKubernetesTask(ctx, namespace, name);
      const subject = object?.metadata.deletionTimestamp ? object : (tombstone ?? object);
      if (cancelled > 0 && subject) await recorder.record(subject, { type: 'Normal', reason: 'SuccessfulDelete', message: `Cancelled ${cancelled} active run(s) of the deleted task` });
      if (tombstones.get(key) === tombstone) tombstones.delete(key);
    }
    if (!object) {
      legacy.delete(key);
      return true;
    }
    if (object.metadata.deletionTimestamp) {
      legacy.delete(key);
      if (carries(object)) await patchFinalizers(object, withoutOurs(object));
      return true;
    }
    if (carries(object)) legacy.add(key);
    else legacy.delete(key);
    return false;
  }

  async function removeLegacyFinalizers(limit: number): Promise<void> {
    let removed = 0;
    for (const key of [...legacy].slice(0, limit)) {
      const object = deps.get(key);
      legacy.delete(key);
      // gone, being deleted (its reconcile removes it) or already without it
      if (!object || object.metadata.deletionTimestamp || !carries(object)) continue;
      try {
        await patchFinalizers(object, withoutOurs(object));
        removed++;
      } catch (error) {
        // changed meanwhile: its reconcile sees the new object and offers it again
        if (isConflict(error) || isNotFound(error)) continue;
        legacy.add(key);
        throw error;
      }
    }
    if (removed > 0) logger.debug({ removed, left: legacy.size }, `removed the old finalizer ${TASK_FINALIZER}`);
  }

  return {
    deleted: (key, object) => {
      tombstones.set(key, object);
    },
    settle,
    removeLegacyFinalizers: (limit) =>
      removeLegacyFinalizers(limit).catch((error: unknown) => logger.warn({ err: describeKubeError(error) }, 'removing the old finalizer failed; retrying later')),
  };
}
