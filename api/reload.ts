import type { Config } from '../core/config/index.ts';
import type { ReloadResult } from './context.ts';
import { changedKeys, isLiveKey } from './settings.ts';

/**
 * Sorts the changed keys into those applied now and those that wait for a restart, and returns the
 * config now in effect: the old one with only the live keys taken from the new one. So a key that needs
 * a restart keeps its running value (and is reported again by the next reload until the restart).
 */
export function applyReload(before: Config | undefined, after: Config): ReloadResult & { effective: Config } {
  if (!before) return { changed: [], needsRestart: [], effective: after };
  const changed = changedKeys(before, after);
  const live = changed.filter(isLiveKey);
  const effective = structuredClone(before);
  for (const key of live) setPath(effective, key, structuredClone(getPath(after, key)));
  return { changed: live, needsRestart: changed.filter((k) => !isLiveKey(k)), effective };
}

function getPath(tree: unknown, key: string): unknown {
  return key.split('.').reduce<unknown>((node, part) => (node as Record<string, unknown> | undefined)?.[part], tree);
}

function setPath(tree: unknown, key: string, value: unknown): void {
  const parts = key.split('.');
  const last = parts.pop() as string;
  let node = tree as Record<string, unknown>;
  for (const part of parts) {
    node[part] ??= {};
    node = node[part] as Record<string, unknown>;
  }
  if (value === undefined) delete node[last];
  else node[last] = value;
}
