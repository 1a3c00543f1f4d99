import type { DependencyGraph } from './dependency-cycles.ts';
import type { KubeObject } from './kube.ts';

const dependsOnOf = (object: KubeObject): string[] => {
  const dependsOn = (object.spec as { dependsOn?: unknown } | undefined)?.dependsOn;
  return Array.isArray(dependsOn) ? dependsOn.filter((d): d is string => typeof d === 'string') : [];
};

/**
 * The desired dependency graph of every namespace, kept up to date from the ScheduledTask cache one change
 * at a time. Only tasks with a dependsOn have a node: a task without one closes no cycle, and walking the
 * whole cache on every watch event made a sync of 10,000 tasks quadratic (minutes instead of seconds).
 * A task being deleted has no edges (its deletion cannot be what closes a cycle).
 */
export class DependencyIndex {
  /** namespace -> name -> dependsOn (non-empty lists only) */
  private readonly edges = new Map<string, DependencyGraph>();
  /** "namespace/name" -> names in that namespace whose dependsOn names it */
  private readonly namedBy = new Map<string, Set<string>>();

  /**
   * Records the object's current edges (none when deleted or being deleted) and returns the tasks whose place on a
   * cycle may change with it: those it names, now or before, and those naming it; `changed` says whether its
   * edges differ from the ones recorded.
   */
  update(object: KubeObject, deleted = false): { related: string[]; changed: boolean } {
    const namespace = object.metadata.namespace ?? '';
    const name = object.metadata.name;
    const next = deleted || object.metadata.deletionTimestamp ? [] : dependsOnOf(object);
    const graph = this.edges.get(namespace);
    const before = graph?.get(name) ?? [];
    const changed = before.length !== next.length || before.some((d, i) => d !== next[i]);
    if (changed) {
      for (const target of before) this.unlink(namespace, target, name);
      for (const target of next) this.link(namespace, target, name);
      if (next.length > 0) this.graphOf(namespace).set(name, next);
      else if (graph) {
        graph.delete(name);
        if (graph.size === 0) this.edges.delete(namespace);
      }
    }
    const related = new Set([...before, ...next, ...(this.namedBy.get(`${namespace}/${name}`) ?? [])]);
    related.delete(name);
    return { related: [...related], changed };
  }

  /** The namespace's graph (read-only: copy it before adding a node), nodes with edges only. */
  graph(namespace: string): DependencyGraph {
    return this.edges.get(namespace) ?? new Map();
  }

  private graphOf(namespace: string): DependencyGraph {
    let graph = this.edges.get(namespace);
    if (!graph) this.edges.set(namespace, (graph = new Map()));
    return graph;
  }

  private link(namespace: string, target: string, from: string): void {
    const key = `${namespace}/${target}`;
    let names = this.namedBy.get(key);
    if (!names) this.namedBy.set(key, (names = new Set()));
    names.add(from);
  }

  private unlink(namespace: string, target: string, from: string): void {
    const key = `${namespace}/${target}`;
    const names = this.namedBy.get(key);
    names?.delete(from);
    if (names?.size === 0) this.namedBy.delete(key);
  }
}
