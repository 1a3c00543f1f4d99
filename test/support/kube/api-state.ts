import type { ResourceRegistry } from './registry.ts';
import type { ResourceType, ServedVersion } from './resource-type.ts';
import type { Storage } from './storage.ts';

/** What every handler shares: the kinds, the objects, and how the server reports oddities. */
export interface ApiState {
  registry: ResourceRegistry;
  storage: Storage;
  log: (line: string) => void;
  bookmarkIntervalMs: number;
}

/** One write in progress: which kind, at which version, and the request's write options. */
export interface WriteRequest {
  state: ApiState;
  type: ResourceType;
  version: ServedVersion;
  dryRun: boolean;
  /** Strict | Warn | Ignore (the `fieldValidation` query parameter). */
  fieldValidation: string;
  manager: string;
  /** Collected `Warning` headers. */
  warnings: string[];
}

let cachedSecond = -1;
let cachedTimestamp = '';

/** RFC 3339 at second precision, like metav1.Time; cached because every write stamps one. */
export function nowTimestamp(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== cachedSecond) {
    cachedSecond = second;
    cachedTimestamp = new Date(second * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
  }
  return cachedTimestamp;
}
