import { builtinResourceTypes } from './builtin-resources.ts';
import { findVersion, storeKeyOf } from './resource-type.ts';
import type { ResourceType, ServedVersion } from './resource-type.ts';

export interface Resolved { type: ResourceType; version: ServedVersion }

/**
 * Which kinds exist and at which group/versions. CustomResourceDefinitions add and remove kinds at
 * run time; discovery is computed from here on every request, so it is never stale.
 */
export class ResourceRegistry {
  readonly #types = new Map<string, ResourceType>();

  constructor() {
    for (const type of builtinResourceTypes()) this.register(type);
  }

  register(type: ResourceType): void {
    this.#types.set(storeKeyOf(type), type);
  }

  unregister(group: string, resource: string): void {
    this.#types.delete(`${group}/${resource}`);
  }

  byStoreKey(key: string): ResourceType | undefined {
    return this.#types.get(key);
  }

  byGroupKind(group: string, kind: string): ResourceType | undefined {
    for (const type of this.#types.values()) if (type.group === group && type.kind === kind) return type;
    return undefined;
  }

  resolve(group: string, version: string, resource: string): Resolved | undefined {
    const type = this.#types.get(`${group}/${resource}`);
    if (!type) return undefined;
    const served = findVersion(type, version);
    return served ? { type, version: served } : undefined;
  }

  all(): ResourceType[] {
    return [...this.#types.values()];
  }

  /** Group name -> versions, preferred first; the core group ('') included. */
  groups(): Map<string, string[]> {
    const groups = new Map<string, string[]>();
    for (const type of this.#types.values()) {
      const versions = groups.get(type.group) ?? [];
      for (const served of type.versions) if (!versions.includes(served.name)) versions.push(served.name);
      groups.set(type.group, versions);
    }
    for (const versions of groups.values()) versions.sort(compareKubeVersions);
    return groups;
  }

  inGroupVersion(group: string, version: string): Resolved[] {
    const found: Resolved[] = [];
    for (const type of this.#types.values()) {
      if (type.group !== group) continue;
      const served = findVersion(type, version);
      if (served) found.push({ type, version: served });
    }
    return found.sort((a, b) => a.type.resource.localeCompare(b.type.resource));
  }
}

/** Kubernetes version priority: GA before beta before alpha, higher numbers first (v2 > v1 > v1beta1). */
export function compareKubeVersions(a: string, b: string): number {
  return versionRank(b) - versionRank(a);
}

function versionRank(version: string): number {
  const match = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(version);
  if (!match) return -1;
  const stability = match[2] === undefined ? 3 : match[2] === 'beta' ? 2 : 1;
  return stability * 1_000_000 + Number(match[1]) * 1000 + Number(match[3] ?? 0);
}
