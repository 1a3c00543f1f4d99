import { z } from 'zod';
import { ValidationError, problemsFromZod, type FieldProblem } from './errors.ts';
import { TaskLabels, TaskName, TaskSpec } from './task.ts';
import { WorkerPoolSpec } from './worker-pool.ts';

/** The Kubernetes API group and version of Hourglass's custom resources. */
export const API_GROUP = 'scheduling.hourglass.dev';
export const API_VERSION_NAME = 'v1alpha1';
export const API_VERSION = `${API_GROUP}/${API_VERSION_NAME}`;

/** Annotation whose every new value triggers a manual run of a ScheduledTask. */
export const TRIGGER_ANNOTATION = `${API_GROUP}/trigger`;

export const RESOURCE_KINDS = {
  ScheduledTask: { plural: 'scheduledtasks', singular: 'scheduledtask', shortNames: ['st'] },
  WorkerPool: { plural: 'workerpools', singular: 'workerpool', shortNames: ['wp'] },
} as const;
export type ResourceKind = keyof typeof RESOURCE_KINDS;

const Metadata = z.looseObject({
  name: TaskName,
  namespace: TaskName.optional(),
  labels: TaskLabels,
  annotations: z.record(z.string(), z.string()).default({}),
});

const Header = z.looseObject({
  apiVersion: z.literal(API_VERSION, { error: `must be "${API_VERSION}"` }),
  kind: z.enum(['ScheduledTask', 'WorkerPool'], { error: 'must be ScheduledTask or WorkerPool' }),
});

export interface ScheduledTaskManifest {
  kind: 'ScheduledTask';
  name: string;
  /** absent in the document: the caller decides (kubectl's current namespace, or '' on the compose path) */
  namespace: string | undefined;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  spec: TaskSpec;
}

export interface WorkerPoolManifest {
  kind: 'WorkerPool';
  name: string;
  namespace: string | undefined;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  spec: WorkerPoolSpec;
}

export type Manifest = ScheduledTaskManifest | WorkerPoolManifest;

/**
 * One ScheduledTask or WorkerPool document, as `kubectl apply` and `scheduler-cli apply -f` take it.
 * Every problem is reported at once with its path from the document root (`spec.schedule`, `metadata.name`).
 * Unknown top-level keys (status, managed fields) are ignored, as the API server does.
 */
export function parseManifest(document: unknown): Manifest {
  const header = Header.safeParse(document);
  if (!header.success) throw new ValidationError('manifest', problemsFromZod(header.error));
  const { kind } = header.data;
  const problems: FieldProblem[] = [];
  const metadata = Metadata.safeParse(header.data['metadata']);
  if (!metadata.success) problems.push(...problemsFromZod(metadata.error, 'metadata'));
  const specSchema = kind === 'ScheduledTask' ? TaskSpec : WorkerPoolSpec;
  const spec = specSchema.safeParse(header.data['spec'] ?? {});
  if (!spec.success) problems.push(...problemsFromZod(spec.error, 'spec'));
  if (!metadata.success || !spec.success) throw new ValidationError(`${kind}`, problems);
  const identity = {
    name: metadata.data.name,
    namespace: metadata.data.namespace,
    labels: metadata.data.labels,
    annotations: metadata.data.annotations,
  };
  return kind === 'ScheduledTask'
    ? { kind, ...identity, spec: spec.data as TaskSpec }
    : { kind, ...identity, spec: spec.data as WorkerPoolSpec };
}

/** The REST body (`POST /api/tasks`) equivalent to a ScheduledTask manifest. */
export function taskInputFromManifest(manifest: ScheduledTaskManifest): Record<string, unknown> {
  return { name: manifest.name, labels: manifest.labels, ...manifest.spec };
}
