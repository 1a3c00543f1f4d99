import type { Proc } from '../processes.ts';

/** One leadership term of an operator replica, wall-clock ms; until is undefined while it still leads. */
export interface Term {
  replica: string;
  from: number;
  until: number | undefined;
}

/**
 * The terms a replica led, read from its JSON log: "leader work started" {leadingFrom} opens a term and
 * "no longer the operator leader" {leadingFrom, leadingUntil} closes it (logged once its work has stopped).
 */
export function leadingTerms(proc: Proc): Term[] {
  const terms: Term[] = [];
  for (const line of proc.lines) {
    const json = line.slice(line.indexOf('{'));
    if (!json.startsWith('{')) continue;
    let entry: { msg?: string; leadingFrom?: number; leadingUntil?: number };
    try {
      entry = JSON.parse(json) as typeof entry;
    } catch {
      continue;
    }
    if (entry.msg === 'leader work started' && typeof entry.leadingFrom === 'number') terms.push({ replica: proc.name, from: entry.leadingFrom, until: undefined });
    if (entry.msg?.startsWith('no longer the operator leader') && typeof entry.leadingUntil === 'number') {
      const open = terms.find((term) => term.from === entry.leadingFrom && term.until === undefined);
      if (open) open.until = entry.leadingUntil;
    }
  }
  return terms;
}

/** Every pair of terms of different replicas that intersect (an open term lasts until now). */
export function overlaps(terms: Term[]): string[] {
  const found: string[] = [];
  const end = (term: Term) => term.until ?? Date.now();
  for (const [i, a] of terms.entries()) {
    for (const b of terms.slice(i + 1)) {
      if (a.replica === b.replica) continue;
      if (a.from < end(b) && b.from < end(a)) found.push(`${a.replica} [${a.from}, ${a.until ?? 'now'}] and ${b.replica} [${b.from}, ${b.until ?? 'now'}]`);
    }
  }
  return found;
}
