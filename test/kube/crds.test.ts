import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { z } from 'zod';
import { CRD_FILES, renderCrds } from '../../operator/crds.ts';
import { structuralProblems, toStructuralSchema, SchemaConversionError } from '../../operator/structural-schema.ts';
import { REPO_ROOT } from '../support/processes.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- walking CRD YAML

const checkedIn = (file: string) => readFileSync(path.join(REPO_ROOT, 'crds', file), 'utf8');
const version = (crd: Json): Json => crd['spec'].versions[0];
const schemaOf = (file: string): Json => version(parse(checkedIn(file)))['schema'].openAPIV3Schema;

/** every property (and array item) path that lacks a description, below `spec` and `status` */
function undescribed(node: Json, at: string): string[] {
  const out: string[] = [];
  for (const [name, child] of Object.entries((node['properties'] ?? {}) as Record<string, Json>)) {
    if (typeof child['description'] !== 'string' || child['description'] === '') out.push(`${at}.${name}`);
    out.push(...undescribed(child, `${at}.${name}`));
  }
  if (node['items']) {
    if (typeof node['items'].description !== 'string') out.push(`${at}[]`);
    out.push(...undescribed(node['items'], `${at}[]`));
  }
  return out;
}

describe('CRDs under crds/', () => {
  it('match what `npm run crds:generate` produces from core/model (run it when this fails)', () => {
    const generated = renderCrds();
    assert.deepEqual(Object.keys(generated).sort(), Object.values(CRD_FILES).sort());
    for (const [file, text] of Object.entries(generated)) assert.equal(checkedIn(file), text, `crds/${file} drifted from the generator`);
  });

  it('are the only YAML files there, so `kubectl apply -f crds/` applies exactly the CRDs', () => {
    const yaml = readdirSync(path.join(REPO_ROOT, 'crds')).filter((file) => /\.ya?ml$|\.json$/.test(file)).sort();
    assert.deepEqual(yaml, Object.values(CRD_FILES).sort());
  });

  it('have structural schemas with a type on every node and no $ref/anyOf', () => {
    for (const file of Object.values(CRD_FILES)) assert.deepEqual(structuralProblems(schemaOf(file)), [], file);
  });

  it('describe every field under spec and status, so kubectl explain reads well', () => {
    for (const file of Object.values(CRD_FILES)) {
      const schema = schemaOf(file);
      assert.deepEqual([...undescribed(schema['properties'].spec, 'spec'), ...undescribed(schema['properties'].status, 'status')], [], file);
    }
  });

  it('give ScheduledTask defaults, enums, bounds, and CEL for exactly the block of its type', () => {
    const spec = schemaOf('scheduledtask.yaml')['properties'].spec;
    assert.equal(spec.properties.timeZone.default, 'UTC');
    assert.deepEqual(spec.properties.concurrencyPolicy.enum, ['Allow', 'Forbid', 'Replace']);
    assert.equal(spec.properties.timeoutSeconds.minimum, 0);
    assert.equal(spec.properties.timeoutSeconds.exclusiveMinimum, true);
    assert.equal(spec.properties.shards.maximum, 1000);
    assert.equal(spec.properties.params['x-kubernetes-preserve-unknown-fields'], true);
    assert.deepEqual(spec.required, ['type']);
    const rules = spec['x-kubernetes-validations'].map((v: Json) => v.rule);
    for (const block of ['shell', 'http']) {
      assert.ok(rules.includes(`self.type != '${block}' || has(self.${block})`), `${block} required rule`);
      assert.ok(rules.includes(`self.type == '${block}' || !has(self.${block})`), `${block} forbidden rule`);
    }
  });

  it('give ScheduledTask a status subresource, shortName st and the printer columns of kubectl get st', () => {
    const crd = parse(checkedIn('scheduledtask.yaml'));
    assert.equal(crd.metadata.name, 'scheduledtasks.scheduling.hourglass.dev');
    assert.deepEqual(crd.spec.names.shortNames, ['st']);
    assert.deepEqual(version(crd)['subresources'], { status: {} });
    assert.equal(version(crd)['name'], 'v1alpha1');
    assert.deepEqual(version(crd)['additionalPrinterColumns'].map((c: Json) => c.name), ['Schedule', 'TimeZone', 'Suspend', 'Active', 'Last Schedule', 'Next', 'Last Result', 'Age']);
  });

  it('give WorkerPool status and scale subresources, min <= max in CEL, and its printer columns', () => {
    const crd = parse(checkedIn('workerpool.yaml'));
    assert.deepEqual(crd.spec.names.shortNames, ['wp']);
    assert.deepEqual(version(crd)['subresources'].scale, { specReplicasPath: '.spec.replicas.desired', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' });
    const replicas = version(crd)['schema'].openAPIV3Schema.properties.spec.properties.replicas;
    assert.equal(replicas['x-kubernetes-validations'][0].rule, '!has(self.min) || !has(self.max) || self.min <= self.max');
    assert.deepEqual(version(crd)['additionalPrinterColumns'].map((c: Json) => c.name), ['Desired', 'Ready', 'Backlog', 'Age']);
  });

  it('refuses to generate from a schema Kubernetes could not take, naming the field', () => {
    assert.throws(() => toStructuralSchema(z.object({ a: z.union([z.string(), z.object({ n: z.number().describe('n') })]).describe('x') }), 'input'), (error: Error) => error instanceof SchemaConversionError && /^a: anyOf/.test(error.message));
    assert.throws(() => toStructuralSchema(z.object({ b: z.string() }), 'input'), /b: has no description/);
  });
});
