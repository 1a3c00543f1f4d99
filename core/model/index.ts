export { parseDurationMs, MAX_DURATION_MS } from './duration.ts';
export { ERROR_CODES, errorInfo, isErrorCode, type ErrorCode, type ErrorInfo } from './error-codes.ts';
export { unsafeTextReason, boundedText, findUnsafeText } from './bounded-text.ts';
export { ValidationError, parseOrThrow, problemsFromZod, formatPath, type FieldProblem } from './errors.ts';
export {
  TaskSpec, TaskInput, Task, TaskName, TaskLabels, TaskSource, ShellSpec, HttpSpec, RetryPolicy, RetryBackoff,
  HistoryLimits, ConcurrencyPolicy, CatchUpPolicy, NAME_RE, splitTaskInput, SecretKeyRef, SPEC_LIMITS, type TaskSpecInput,
} from './task.ts';
export { Run, RunReason, RunStatus, RunTrigger, RUN_REASONS, RUN_STATUSES, TERMINAL_STATUSES, ACTIVE_STATUSES, RETRYABLE_OUTCOMES } from './run.ts';
export { Worker, WorkerStatus } from './worker.ts';
export { WorkerPoolSpec } from './worker-pool.ts';
export {
  API_GROUP, API_VERSION, API_VERSION_NAME, TRIGGER_ANNOTATION, RESOURCE_KINDS, parseManifest, taskInputFromManifest,
  type ResourceKind, type Manifest, type ScheduledTaskManifest, type WorkerPoolManifest,
} from './resource.ts';
