/**
 * The store's public API: what code outside core/store may use. Every SQL statement of the core lives in
 * a module of this folder, one per operation; other folders import it from here, never from a module.
 */
export { type AttemptHolderRow, attemptsWithHolders } from './attempt-holders.ts';
export { settleAttempts } from './attempt-outcomes.ts';
export { type AttemptReport, keepOutputOfCancelledRuns } from './cancelled-output.ts';
export { type ClaimRequest, grantClaims } from './claims.ts';
export { pingDatabase } from './database-ping.ts';
export { type Db, type Queryable, type SessionLock } from './db.ts';
export { type DeadLetter, insertDeadLetters, pruneDeadLetters } from './dead-letters.ts';
export { dependantsReadiness, lockOnDemandDependants } from './dependants.ts';
export { type DueRunRow, dueRunsToHandOff, nextRetryAt } from './due-runs.ts';
export { ConflictError, isTransientFailure, NotFoundError } from './errors.ts';
export { fireAttempts } from './fire-attempts.ts';
export { attemptsSettledWithoutTheirWorker, runningAttemptsOfWorkers } from './heartbeat-attempts.ts';
export { deleteRunsBeyondHistoryLimits, deleteWorkersDownSince } from './history-retention.ts';
export { kubernetesPoolNamespaces, kubernetesPoolOwners, otherNamespacesUsingPool, type PoolLoad, poolLoad } from './kubernetes-pools.ts';
export { kubernetesRunChanges, type RunChange, type RunChangeCursor } from './kubernetes-run-changes.ts';
export { loadRunCursor, saveRunCursor } from './kubernetes-run-cursor.ts';
export { createKubernetesTasks, findTasksByKey, type KubernetesTaskRef, type KubernetesTaskWrite, listKubernetesTasks } from './kubernetes-tasks.ts';
export { deleteWaitingRuns, lockNextAttempts, recordLateSuccesses, type SettledAttemptRow } from './late-outcomes.ts';
export { acquirePartitions, countLiveLeases, fencePartitions, freeGoneHolder, heartbeatMember, leaveMembers, type MemberBeat, type PartitionTerm, releasePartitions, renewPartitions } from './partition-leases.ts';
export { acquireLease, fenceLease, LeaseLostError, type LeaseTerm, readLease, releaseLease, renewLease } from './leases.ts';
export { liveTasksById } from './live-tasks.ts';
export { countFinishedRunsBefore, deleteFinishedRunsBefore, dropSchedulerSchema, reindexTables, vacuumTables } from './maintenance.ts';
export { migrate, migrationStatus } from './migrate.ts';
export { notify } from './notify.ts';
export { openPgDb } from './pg-db.ts';
export { openPgliteDb } from './pglite-db.ts';
export { notifyPools } from './pool-notify.ts';
export { deletePool, findPool, getPool, listPools, poolActivity, type PoolActivity, poolsSeen, type StoredPool, upsertPool } from './pools.ts';
export { type DequeuedRow, dequeueRuns, queuedRunCount, runsTakenSince } from './postgres-queue.ts';
export { taskColumns, type TaskRow, toTask } from './rows.ts';
export { lockRunsInIdOrder, reachRunsByIndex } from './run-locks.ts';
export { insertRunLogs, type RunLogLine } from './run-log-writes.ts';
export { countRuns, listRuns, runLogs, runsByIds, runStatus } from './run-queries.ts';
export { type RunSummary } from './run-summary.ts';
export { type ActiveRun, activeRunsOf, type CancelRow, cancelRuns, getRun, type InsertedRun, insertRuns, latestOutcomes, listTaskRuns, markQueued, type NewRun, toCancelTarget } from './runs.ts';
export { type AttemptStart, cancelledRunsAmong, recordStartedAttempts } from './started-attempts.ts';
export { recordStatusProbe, statusProvenAt } from './status-path.ts';
export { ACTIVE, statusAmong } from './status-test.ts';
export { dependsOnOf } from './task-dependencies.ts';
export { advanceLastScheduledTimes } from './task-last-scheduled.ts';
export { countTasks, findTaskWithLastRun, latestRunIds, listTasksFiltered, taskStats } from './task-queries.ts';
export { taskRunState, type TaskRunState, taskRunStates } from './task-run-states.ts';
export { createTask, databaseNow, deleteTask, findTask, getTask, lockTasksForShare, TASK_CHANGED_CHANNEL, updateTask } from './tasks.ts';
export { attemptsOfDeadWorkers, type HeldAttempt, markSilentWorkersDown, poolsWithRunsQueuedSince } from './worker-liveness.ts';
export { deleteGoneWorkers, getWorker, listWorkers, liveWorkerLoad, markDraining, recordWorkerHeartbeats, workerIdentities, workerStats } from './worker-queries.ts';
