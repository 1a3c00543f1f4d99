import type { FieldProblem } from './errors.ts';
import type { PrinterColumn, ResourceType, ServedVersion } from './resource-type.ts';
import type { JsonObject, KubeObject } from './types.ts';
import { isObject } from './types.ts';

/** CustomResourceDefinition -> the kind it defines, and the checks a CRD itself must pass. */

interface CrdVersion {
  name: string;
  served?: boolean;
  storage?: boolean;
  schema?: { openAPIV3Schema?: JsonObject };
  subresources?: { status?: object; scale?: { specReplicasPath: string; statusReplicasPath: string; labelSelectorPath?: string } };
  additionalPrinterColumns?: PrinterColumn[];
}

interface CrdSpec {
  group?: string;
  scope?: string;
  names?: { plural?: string; singular?: string; kind?: string; listKind?: string; shortNames?: string[]; categories?: string[] };
  versions?: CrdVersion[];
}

const AGE: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

function specOf(crd: KubeObject): CrdSpec {
  return (isObject(crd.spec) ? crd.spec : {}) as CrdSpec;
}

export function validateCrd(crd: KubeObject): FieldProblem[] {
  const spec = specOf(crd);
  const problems: FieldProblem[] = [];
  const required = (field: string, value: unknown) => {
    if (value === undefined || value === '') problems.push({ field, type: 'FieldValueRequired', detail: 'Required value' });
  };
  required('spec.group', spec.group);
  required('spec.names.plural', spec.names?.plural);
  required('spec.names.kind', spec.names?.kind);
  if (spec.scope !== 'Namespaced' && spec.scope !== 'Cluster') {
    problems.push({ field: 'spec.scope', type: 'FieldValueNotSupported', detail: `Unsupported value: ${JSON.stringify(spec.scope ?? '')}: supported values: "Cluster", "Namespaced"` });
  }
  const versions = spec.versions ?? [];
  if (versions.length === 0) problems.push({ field: 'spec.versions', type: 'FieldValueInvalid', detail: 'Invalid value: "null": must have exactly one version marked as storage version' });
  else if (versions.filter((version) => version.storage === true).length !== 1) {
    problems.push({ field: 'spec.versions', type: 'FieldValueInvalid', detail: 'Invalid value: must have exactly one version marked as storage version' });
  }
  versions.forEach((version, index) => {
    if (!isObject(version.schema?.openAPIV3Schema)) {
      problems.push({ field: `spec.versions[${index}].schema.openAPIV3Schema`, type: 'FieldValueRequired', detail: 'Required value: schemas are required' });
    }
  });
  const expectedName = `${spec.names?.plural}.${spec.group}`;
  if (crd.metadata.name !== expectedName) {
    problems.push({ field: 'metadata.name', type: 'FieldValueInvalid', detail: `Invalid value: ${JSON.stringify(crd.metadata.name)}: must be spec.names.plural+"."+spec.group` });
  }
  return problems;
}

export function resourceTypeOfCrd(crd: KubeObject): ResourceType {
  const spec = specOf(crd);
  const names = spec.names ?? {};
  const kind = names.kind as string;
  const versions: ServedVersion[] = (spec.versions ?? [])
    .filter((version) => version.served !== false)
    .map((version) => ({
      name: version.name,
      ...(version.schema?.openAPIV3Schema ? { schema: version.schema.openAPIV3Schema } : {}),
      printerColumns: version.additionalPrinterColumns?.length ? version.additionalPrinterColumns : [AGE],
      statusSubresource: version.subresources?.status !== undefined,
      ...(version.subresources?.scale ? { scale: version.subresources.scale } : {}),
    }));
  return {
    group: spec.group as string,
    resource: names.plural as string,
    kind,
    listKind: names.listKind ?? `${kind}List`,
    singular: names.singular ?? kind.toLowerCase(),
    namespaced: spec.scope !== 'Cluster',
    shortNames: names.shortNames ?? [],
    categories: names.categories ?? [],
    versions,
    storageVersion: (spec.versions ?? []).find((version) => version.storage)?.name ?? versions[0]?.name ?? 'v1',
    custom: true,
    tracksGeneration: true,
    selectableFields: {},
  };
}

/** The status the apiextensions controller would write at once: names accepted, established. */
export function establishedStatus(crd: KubeObject, now: string): JsonObject {
  const spec = specOf(crd);
  const names = spec.names ?? {};
  const condition = (type: string, reason: string, message: string) => ({ type, status: 'True', lastTransitionTime: now, reason, message });
  return {
    conditions: [
      condition('NamesAccepted', 'NoConflicts', 'no conflicts found'),
      condition('Established', 'InitialNamesAccepted', 'the initial names have been accepted'),
    ],
    acceptedNames: {
      plural: names.plural ?? '',
      singular: names.singular ?? (names.kind ?? '').toLowerCase(),
      kind: names.kind ?? '',
      listKind: names.listKind ?? `${names.kind}List`,
      ...(names.shortNames ? { shortNames: names.shortNames } : {}),
      ...(names.categories ? { categories: names.categories } : {}),
    },
    storedVersions: [(spec.versions ?? []).find((version) => version.storage)?.name ?? ''],
  };
}
