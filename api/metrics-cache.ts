/** How long the cluster gauges of /metrics reuse one read of the database. */
export const CLUSTER_METRICS_TTL_MS = 5_000;

/**
 * A read shared by everyone who asks within `ttlMs` (and by everyone who asks while it runs): /metrics is
 * open by default, so a flood of scrapes must not become a flood of database queries. A failed read is not
 * kept: the next scrape tries again.
 */
export function cachedFor<T>(ttlMs: number, now: () => number, read: () => Promise<T>): () => Promise<T> {
  let cached: { at: number; value: Promise<T> } | undefined;
  return () => {
    if (!cached || now() - cached.at >= ttlMs) {
      const value = read();
      const entry = { at: now(), value };
      cached = entry;
      value.catch(() => {
        if (cached === entry) cached = undefined;
      });
    }
    return cached.value;
  };
}
