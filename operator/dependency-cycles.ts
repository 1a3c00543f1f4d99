import type { KubeObject } from './kube.ts';

/** name -> the names in its spec.dependsOn, for the ScheduledTasks of one namespace */
export type DependencyGraph = Map<string, string[]>;

/**
 * The desired dependency graph of a namespace: every ScheduledTask the operator has seen there (its cache,
 * not what Postgres holds), so a cycle applied in one file, whose members are reconciled in any order or at
 * once, is found before any member of it is stored.
 */
export function desiredGraph(objects: Iterable<KubeObject>, namespace: string): DependencyGraph {
  const graph: DependencyGraph = new Map();
  for (const object of objects) {
    if ((object.metadata.namespace ?? '') !== namespace || object.metadata.deletionTimestamp) continue;
    const dependsOn = (object.spec as { dependsOn?: unknown } | undefined)?.dependsOn;
    graph.set(object.metadata.name, Array.isArray(dependsOn) ? dependsOn.filter((d): d is string => typeof d === 'string') : []);
  }
  return graph;
}

/** A cycle through `name` ([name, ..., name]), or undefined. Depth-first, each name visited once. */
export function cycleThrough(name: string, graph: DependencyGraph): string[] | undefined {
  const visited = new Set<string>();
  const walk = (current: string, path: string[]): string[] | undefined => {
    for (const next of graph.get(current) ?? []) {
      if (next === name) return [...path, name];
      if (visited.has(next)) continue;
      visited.add(next);
      const found = walk(next, [...path, next]);
      if (found) return found;
    }
    return undefined;
  };
  return walk(name, [name]);
}

/** The tasks whose place on a cycle may change with this one: those it names and those naming it. */
export function relatedTasks(object: KubeObject, graph: DependencyGraph): string[] {
  const name = object.metadata.name;
  const own = (object.spec as { dependsOn?: unknown } | undefined)?.dependsOn;
  const related = new Set([...(graph.get(name) ?? []), ...(Array.isArray(own) ? own.filter((d): d is string => typeof d === 'string') : [])]);
  for (const [other, dependsOn] of graph) if (dependsOn.includes(name)) related.add(other);
  related.delete(name);
  return [...related];
}
