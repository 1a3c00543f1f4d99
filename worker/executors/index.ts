export type { ExecutionContext, ExecutionResult, Executor } from './types.ts';
export { ExecutorRegistry, defaultRegistry } from './registry.ts';
export type { DefaultRegistryOptions } from './registry.ts';
export { createShellExecutor, buildTaskEnv, SAFE_BASE_ENV_NAMES } from './shell.ts';
export type { ShellExecutorOptions } from './shell.ts';
export { createHttpExecutor, shardHeaders } from './http.ts';
export type { HttpExecutorOptions } from './http.ts';
export { createNoopExecutor } from './noop.ts';
