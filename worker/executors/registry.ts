import { createHttpExecutor } from './http.ts';
import type { HttpExecutorOptions } from './http.ts';
import { createNoopExecutor } from './noop.ts';
import { createShellExecutor } from './shell.ts';
import type { ShellExecutorOptions } from './shell.ts';
import type { Executor } from './types.ts';

/** Executors by task type; a worker pool runs the types registered here. */
export class ExecutorRegistry {
  readonly #executors = new Map<string, Executor>();

  register(executor: Executor): this {
    if (this.#executors.has(executor.type)) throw new Error(`an executor for type "${executor.type}" is already registered`);
    this.#executors.set(executor.type, executor);
    return this;
  }

  get(type: string): Executor | undefined {
    return this.#executors.get(type);
  }

  types(): string[] {
    return [...this.#executors.keys()];
  }

  /** A registry with only these types (worker.supported_task_types); an unknown type is an error. */
  only(types: readonly string[]): ExecutorRegistry {
    const subset = new ExecutorRegistry();
    for (const type of types) {
      const executor = this.#executors.get(type);
      if (!executor) throw new Error(`worker.supported_task_types: no executor for "${type}" (available: ${this.types().join(', ')})`);
      subset.register(executor);
    }
    return subset;
  }
}

export interface DefaultRegistryOptions {
  shell?: ShellExecutorOptions;
  http?: HttpExecutorOptions;
}

/** shell, http and noop. */
export function defaultRegistry(options: DefaultRegistryOptions = {}): ExecutorRegistry {
  return new ExecutorRegistry()
    .register(createShellExecutor(options.shell))
    .register(createHttpExecutor(options.http))
    .register(createNoopExecutor());
}
