import type { JsonObject } from './types.ts';

/** A printer column, in the CRD `additionalPrinterColumns` shape; built-ins use the same one. */
export interface PrinterColumn {
  name: string;
  type: string;
  format?: string;
  description?: string;
  priority?: number;
  jsonPath: string;
}

export interface ScaleSubresource {
  specReplicasPath: string;
  statusReplicasPath: string;
  labelSelectorPath?: string;
}

export interface ServedVersion {
  name: string;
  /** openAPIV3Schema of a custom resource version; built-ins are not schema-checked. */
  schema?: JsonObject;
  printerColumns: PrinterColumn[];
  statusSubresource: boolean;
  scale?: ScaleSubresource;
}

/**
 * One kind of object the server stores. Versions of one group/resource share a single store, as in
 * etcd; only `apiVersion` differs between them on the way out (no conversion).
 */
export interface ResourceType {
  group: string;
  resource: string;
  kind: string;
  listKind: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  /** First is the preferred version. */
  versions: ServedVersion[];
  storageVersion: string;
  /** Backed by a CustomResourceDefinition: schema validation, merge patches only. */
  custom: boolean;
  /** metadata.generation is kept (bumped on spec changes). */
  tracksGeneration: boolean;
  /** Field selector labels beyond metadata.name and metadata.namespace, mapped to object paths. */
  selectableFields: Record<string, string>;
}

export function storeKeyOf(type: Pick<ResourceType, 'group' | 'resource'>): string {
  return `${type.group}/${type.resource}`;
}

export function apiVersionOf(group: string, version: string): string {
  return group ? `${group}/${version}` : version;
}

export function findVersion(type: ResourceType, version: string): ServedVersion | undefined {
  return type.versions.find((served) => served.name === version);
}
