/**
 * name -> the names in its spec.dependsOn, for the ScheduledTasks of one namespace: the desired graph, built
 * from every ScheduledTask the operator has seen (its cache, not what Postgres holds), so a cycle applied in
 * one file, whose members are reconciled in any order or at once, is found before any member is stored.
 */
export type DependencyGraph = Map<string, string[]>;

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

/**
 * A task reachable from `dependsOn` (directly or through the graph) that has not been seen, or undefined.
 * kubectl creates the objects of one file one after another: a task reconciled before the rest of its
 * file arrived would find no cycle yet and be stored, so a new task waits briefly while one is missing.
 */
export function unseenDependency(dependsOn: string[], graph: DependencyGraph, seen: (name: string) => boolean): string | undefined {
  const visited = new Set<string>();
  const pending = [...dependsOn];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    if (visited.has(next)) continue;
    visited.add(next);
    if (!seen(next)) return next;
    pending.push(...(graph.get(next) ?? []));
  }
  return undefined;
}
