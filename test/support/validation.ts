import assert from 'node:assert/strict';
import { ValidationError, type FieldProblem } from '../../core/model/index.ts';

/** The problems of the ValidationError that `fn` throws; fails the test when it throws none or another error. */
export function problemsOf(fn: () => unknown): FieldProblem[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ValidationError, `expected a ValidationError, got ${String(e)}`);
    return e.problems;
  }
  assert.fail('expected a ValidationError');
}
