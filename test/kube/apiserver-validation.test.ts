import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runCel } from '../support/kube/cel.ts';
import { CelUnsupported, compileCel } from '../support/kube/cel-parser.ts';
import { jsonPatch, mergePatch } from '../support/kube/json-patches.ts';
import { evaluateJsonPath } from '../support/kube/jsonpath.ts';
import { validateAgainstSchema } from '../support/kube/schema-validation.ts';
import { parseFieldSelector, parseLabelSelector } from '../support/kube/selectors.ts';
import { strategicMergePatch } from '../support/kube/strategic-merge.ts';
import { humanDuration } from '../support/kube/tables.ts';
import type { KubeObject } from '../support/kube/types.ts';

/** The pure pieces of the in-memory API server: CEL subset, schema checks, patches, selectors. */

const cel = (rule: string, self: unknown, oldSelf?: unknown) => runCel(compileCel(rule), self, oldSelf);

describe('in-memory API server building blocks', () => {
  test('CEL subset: has, comparisons, logic, ternaries, strings, lists, macros', () => {
    assert.equal(cel('has(self.shell)', { shell: {} }), true);
    assert.equal(cel('!has(self.shell)', {}), true);
    assert.equal(cel("self.type == 'shell' ? has(self.shell) : !has(self.shell)", { type: 'http' }), true);
    assert.equal(cel('self.min <= self.max', { min: 3, max: 2 }), false);
    assert.equal(cel("self.a == 'b' && (self.n > 1 || self.n == -1)", { a: 'b', n: -1 }), true);
    assert.equal(cel("self.name.startsWith('hg-') && size(self.name) < 10", { name: 'hg-x' }), true);
    assert.equal(cel("self.policy in ['Allow', 'Forbid']", { policy: 'Replace' }), false);
    assert.equal(cel('self.items.all(i, i > 0) && self.items.exists(i, i == 2)', { items: [1, 2] }), true);
    assert.equal(cel('self.replicas == oldSelf.replicas', { replicas: 1 }, { replicas: 2 }), false);
    assert.equal(cel('7 / 2 == 3 && 7 % 2 == 1', {}), true);
    assert.throws(() => cel("self.a == 'b'", {}), /no such key: a/);
    assert.throws(() => compileCel('self.x.matches(timestamp("2020"))') && cel('self.x.matches(timestamp("2020"))', { x: 'a' }), CelUnsupported);
  });

  test('schema: types, required, enum, bounds, pattern, defaults, pruning and CEL, with field paths', () => {
    const schema = {
      type: 'object',
      properties: {
        spec: {
          type: 'object',
          required: ['type'],
          'x-kubernetes-validations': [{ rule: '!has(self.replicas) || self.replicas.min <= self.replicas.max', message: 'min must be <= max', fieldPath: '.replicas' }],
          properties: {
            type: { type: 'string', enum: ['shell', 'http'] },
            name: { type: 'string', pattern: '^[a-z]+$', maxLength: 5 },
            shards: { type: 'integer', minimum: 1, maximum: 10, default: 1 },
            env: { type: 'object', additionalProperties: { type: 'string' } },
            replicas: { type: 'object', properties: { min: { type: 'integer' }, max: { type: 'integer' } } },
            free: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
            port: { 'x-kubernetes-int-or-string': true },
          },
        },
      },
    };
    const good = { metadata: { name: 'x' }, spec: { type: 'shell', env: { A: 'b' }, free: { any: [1] }, port: 'http', junk: true } };
    const outcome = validateAgainstSchema(schema, good, undefined, () => {});
    assert.deepEqual(outcome.problems, []);
    assert.deepEqual(outcome.unknownFields, ['spec.junk']);
    assert.deepEqual(good.spec, { type: 'shell', env: { A: 'b' }, free: { any: [1] }, port: 'http', shards: 1 });

    const bad = { metadata: {}, spec: { type: 'ftp', name: 'ABCDEFG', shards: 0, env: { A: 1 }, replicas: { min: 2, max: 1 }, port: true } };
    const problems = validateAgainstSchema(schema, bad, undefined, () => {}).problems.map((problem) => `${problem.field}: ${problem.detail}`);
    assert.deepEqual(problems.sort(), [
      'spec.env[A]: Invalid value: "integer": spec.env[A] in body must be of type string: "integer"',
      'spec.name: Invalid value: "ABCDEFG": spec.name in body should match \'^[a-z]+$\'',
      'spec.name: Too long: may not be more than 5 bytes',
      'spec.port: Invalid value: "boolean": spec.port in body must be of type integer or string: "boolean"',
      'spec.replicas: Invalid value: "object": min must be <= max',
      'spec.shards: Invalid value: 0: spec.shards in body should be greater than or equal to 1',
      'spec.type: Unsupported value: "ftp": supported values: "shell", "http"',
    ]);
    const missing = validateAgainstSchema(schema, { metadata: {}, spec: {} }, undefined, () => {}).problems;
    assert.deepEqual(missing.map((problem) => [problem.field, problem.detail]), [['spec.type', 'Required value']]);
    const logged: string[] = [];
    validateAgainstSchema({ type: 'object', 'x-kubernetes-validations': [{ rule: 'self.x.quantity() > 1' }] }, { metadata: {} }, undefined, (line) => logged.push(line));
    assert.equal(logged.length, 1, 'a rule outside the subset is accepted and logged');
  });

  test('patches: merge, JSON patch, strategic merge with merge keys and directives', () => {
    assert.deepEqual(mergePatch({ a: { b: 1, c: 2 }, d: [1] }, { a: { b: null }, d: [2] }), { a: { c: 2 }, d: [2] });
    assert.deepEqual(jsonPatch({ list: [1, 3] }, [{ op: 'add', path: '/list/1', value: 2 }, { op: 'add', path: '/list/-', value: 4 }, { op: 'move', from: '/list', path: '/moved' }]), { moved: [1, 2, 3, 4] });
    const pod = { spec: { containers: [{ name: 'a', image: 'a:1', env: [{ name: 'X', value: '1' }] }, { name: 'b', image: 'b:1' }], tolerations: [{ key: 'k' }] }, metadata: { finalizers: ['one'] } };
    const patched = strategicMergePatch(pod, {
      metadata: { finalizers: ['two'] },
      spec: {
        $setElementOrder: undefined,
        '$setElementOrder/containers': [{ name: 'a' }, { name: 'c' }],
        containers: [{ name: 'a', env: [{ name: 'Y', value: '2' }] }, { name: 'b', $patch: 'delete' }, { name: 'c', image: 'c:1' }],
        tolerations: [{ key: 'replaced' }],
      },
    });
    assert.deepEqual(patched, {
      metadata: { finalizers: ['one', 'two'] },
      spec: { containers: [{ name: 'a', image: 'a:1', env: [{ name: 'X', value: '1' }, { name: 'Y', value: '2' }] }, { name: 'c', image: 'c:1' }], tolerations: [{ key: 'replaced' }] },
    });
    assert.deepEqual(strategicMergePatch({ spec: { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1 } } } }, { spec: { strategy: { $retainKeys: ['type'], type: 'Recreate' } } }), { spec: { strategy: { type: 'Recreate' } } });
    assert.deepEqual(strategicMergePatch({ metadata: { finalizers: ['a', 'b'] } }, { metadata: { '$deleteFromPrimitiveList/finalizers': ['a'] } }), { metadata: { finalizers: ['b'] } });
  });

  test('selectors and JSONPath', () => {
    const object: KubeObject = { metadata: { name: 'n', namespace: 'ns', labels: { app: 'web', tier: 'front' } }, involvedObject: { name: 'x' } };
    assert.equal(parseLabelSelector('app=web,tier in (front, back),!missing')(object), true);
    assert.equal(parseLabelSelector('app notin (web)')(object), false);
    assert.equal(parseFieldSelector('metadata.name=n,involvedObject.name!=y', { 'involvedObject.name': 'involvedObject.name' })(object), true);
    assert.throws(() => parseFieldSelector('spec.x=1', {}), /field label not supported: spec.x/);
    assert.deepEqual(evaluateJsonPath({ a: [{ b: 1 }, { b: 2 }], m: { 'x.y': 3 } }, '.a[*].b'), [1, 2]);
    assert.deepEqual(evaluateJsonPath({ m: { 'x.y': 3 } }, '.m.x\\.y'), [3]);
    assert.deepEqual([humanDuration(5_000), humanDuration(150_000), humanDuration(3 * 3600_000 + 60_000), humanDuration(3 * 86400_000)], ['5s', '2m30s', '3h1m', '3d']);
  });
});
