export { startOperator, type OperatorOptions, type RunningOperator, type OperatorConfig } from './operator.ts';
export { renderCrds, buildCrd, CRD_FILES } from './crds.ts';
export { TASK_FINALIZER } from './task-deletion.ts';
