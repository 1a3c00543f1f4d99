import assert from 'node:assert/strict';
import { ValidationError } from '../../core/model/index.ts';

/**
 * A generous bound for one call on a shared, loaded machine: a catastrophic regex or a runaway loop takes
 * seconds to forever, a parser doing its job takes well under a millisecond.
 */
export const CASE_LIMIT_MS = 1000;

/** Runs `call`, failing the property when it takes longer than CASE_LIMIT_MS. */
export function timed<T>(what: string, call: () => T): T {
  const started = performance.now();
  try {
    return call();
  } finally {
    const took = performance.now() - started;
    assert.ok(took < CASE_LIMIT_MS, `${what} took ${took.toFixed(0)} ms (limit ${CASE_LIMIT_MS} ms)`);
  }
}

/**
 * The outcome of a call that must either succeed or throw a ValidationError (ScheduleError is one) whose
 * every problem has a path (possibly the root) and a message: never another exception type.
 */
export function validOrClearError<T>(what: string, call: () => T): { ok: true; value: T } | { ok: false; error: ValidationError } {
  let value: T;
  try {
    value = timed(what, call);
  } catch (error) {
    if (!(error instanceof ValidationError)) {
      assert.fail(`${what} threw ${(error as Error)?.constructor?.name ?? typeof error} instead of a ValidationError: ${(error as Error)?.stack ?? String(error)}`);
    }
    assert.ok(error.problems.length > 0, `${what}: a ValidationError without problems`);
    for (const problem of error.problems) {
      assert.equal(typeof problem.path, 'string', `${what}: a problem without a path`);
      assert.ok(typeof problem.message === 'string' && problem.message.trim().length > 0, `${what}: a problem without a message at ${problem.path}`);
    }
    assert.ok(error.message.length > 0);
    return { ok: false, error };
  }
  return { ok: true, value };
}
