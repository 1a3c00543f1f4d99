import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseAllDocuments, stringify } from 'yaml';
import { API_VERSION, parseManifest, problemsFromZod, TaskInput, ValidationError } from '../../core/model/index.ts';
import { timed, validOrClearError } from './bounded.ts';

const RUNS = Number(process.env.PROPERTY_RUNS ?? 400);

const VALID_TASK = {
  apiVersion: API_VERSION,
  kind: 'ScheduledTask',
  metadata: { name: 'nightly-report', namespace: 'default', labels: { team: 'data' } },
  spec: {
    type: 'shell',
    shell: { command: ['sh', '-c', 'echo hi'], env: { K: 'v' } },
    schedule: '0 2 * * *',
    timeZone: 'Asia/Shanghai',
    concurrencyPolicy: 'Forbid',
    catchUp: 'All',
    maxCatchUp: 10,
    retry: { limit: 3, backoff: { initialSeconds: 10, factor: 2, maxSeconds: 3600, jitter: 0.1 } },
    shards: 2,
  },
};
const VALID_POOL = {
  apiVersion: API_VERSION,
  kind: 'WorkerPool',
  metadata: { name: 'default' },
  spec: { taskTypes: ['shell', 'http'], concurrency: 5, replicas: { min: 1, max: 10 } },
};

/** values of every JSON kind, and the odd ones YAML produces (dates, huge numbers, NaN) */
const oddValue = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(null, undefined, NaN, Infinity, -Infinity, -0, 2 ** 53 + 1, 1e308, '', ' ', '\u0000', '💥', '-1', 'true', new Date(0)),
  fc.string({ unit: 'binary', maxLength: 20 }),
);

/** every field path of a document, leaves and tables */
function paths(value: unknown, prefix: string[] = []): string[][] {
  if (value === null || typeof value !== 'object') return [prefix];
  const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value);
  return [prefix, ...entries.flatMap(([k, v]) => paths(v, [...prefix, k]))];
}

function withValueAt(document: unknown, at: string[], value: unknown): unknown {
  if (at.length === 0) return value;
  const copy: Record<string, unknown> = Array.isArray(document) ? ([...document] as unknown as Record<string, unknown>) : { ...(document as Record<string, unknown>) };
  const [head, ...rest] = at as [string, ...string[]];
  copy[head] = withValueAt(copy[head], rest, value);
  return copy;
}

const mutated = fc.tuple(fc.constantFrom(VALID_TASK, VALID_POOL), fc.nat(), oddValue).map(([doc, n, value]) => {
  const all = paths(doc).filter((p) => p.length > 0);
  const at = all[n % all.length] as string[];
  return { doc: withValueAt(doc, at, value), at };
});

describe('task spec and manifest parsers take any input (fast-check)', () => {
  it('the valid examples parse (the properties below start from them)', () => {
    assert.equal(parseManifest(VALID_TASK).kind, 'ScheduledTask');
    assert.equal(parseManifest(VALID_POOL).kind, 'WorkerPool');
  });

  it('parseManifest: any value is a manifest or a ValidationError, never another exception', () => {
    fc.assert(
      fc.property(fc.oneof(oddValue, fc.anything({ maxDepth: 3 }), fc.record({ apiVersion: fc.constant(API_VERSION), kind: fc.constantFrom('ScheduledTask', 'WorkerPool'), metadata: oddValue, spec: fc.anything({ maxDepth: 3 }) })), (doc) => {
        validOrClearError('parseManifest', () => parseManifest(doc));
      }),
      { numRuns: RUNS },
    );
  });

  it('one bad field in a valid manifest is reported at that field (or one around it)', () => {
    fc.assert(
      fc.property(mutated, ({ doc, at }) => {
        const outcome = validOrClearError(`parseManifest with ${at.join('.')} replaced`, () => parseManifest(doc));
        if (outcome.ok) return;
        const changed = at.join('.');
        const named = outcome.error.problems.map((p) => p.path);
        // the problem sits on the changed path, under it, or on the table holding it (a type block that is
        // now missing, a cross-field rule), and never on a field we did not touch
        const related = (p: string) => {
          const flat = p.replace(/\[(\d+)\]/g, '.$1');
          return flat === '' || changed.startsWith(flat) || flat.startsWith(changed) || flat.split('.')[0] === at[0];
        };
        assert.ok(named.every(related), `changed ${changed}, problems at ${JSON.stringify(named)}`);
      }),
      { numRuns: RUNS },
    );
  });

  it('TaskInput (the REST body) gives problems naming fields for any object', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom('name', 'type', 'shell', 'http', 'schedule', 'retry', 'shards', 'timeoutSeconds', 'labels', 'pool', 'priority', 'dependsOn', 'x'), oddValue), (body) => {
        const result = timed('TaskInput.safeParse', () => TaskInput.safeParse(body));
        if (result.success) return;
        const problems = problemsFromZod(result.error);
        assert.ok(problems.length > 0);
        for (const p of problems) assert.ok(p.message.length > 0, `no message at ${p.path}`);
      }),
      { numRuns: RUNS },
    );
  });

  it('random and malformed YAML: the YAML parser reports it, and what parses is a manifest or a ValidationError', () => {
    const text = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.string({ unit: fc.constantFrom('a', ':', ' ', '\n', '-', '[', ']', '{', '}', '"', "'", '&', '*', '!', '|', '>', '#', '%', '@', '\t', '1', 'spec', 'kind'), maxLength: 120 }),
      mutated.map(({ doc }) => stringify(doc)),
      mutated.map(({ doc }) => stringify(doc).slice(0, Math.floor(stringify(doc).length / 2))),
      fc.constant('a: &a [*a, *a]\nb: *a\n'),
      fc.constant(`${'- '.repeat(2000)}x`),
    );
    fc.assert(
      fc.property(text, (yaml) => {
        const docs = timed('parseAllDocuments', () => parseAllDocuments(yaml, { prettyErrors: false }));
        for (const doc of Array.isArray(docs) ? docs : []) {
          if (doc.errors.length > 0) {
            for (const error of doc.errors) assert.ok(error.message.length > 0);
            continue;
          }
          let value: unknown;
          try {
            value = timed('toJS', () => doc.toJS({ maxAliasCount: 100 }));
          } catch (error) {
            // alias bombs are refused by the YAML library itself, with a message
            assert.match((error as Error).message, /alias|Excessive/i);
            continue;
          }
          validOrClearError('parseManifest(yaml)', () => parseManifest(value));
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('a ValidationError from a manifest says which document field is wrong', () => {
    const bad = { ...VALID_TASK, spec: { ...VALID_TASK.spec, schedule: 'every day at noon', shards: 0 } };
    assert.throws(() => parseManifest(bad), (error: unknown) => {
      assert.ok(error instanceof ValidationError);
      assert.ok(error.problems.some((p) => p.path === 'spec.shards'), JSON.stringify(error.problems));
      return true;
    });
  });
});
