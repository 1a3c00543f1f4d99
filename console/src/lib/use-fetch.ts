import { useCallback, useEffect, useState } from 'preact/hooks';

/**
 * Loads data for a view and reloads it on a modest interval (never per row), and when `deps` change.
 */
export function useFetch<T>(load: () => Promise<T>, deps: unknown[], refreshMs = 10_000): { data: T | undefined; error: unknown; reload: () => Promise<void> } {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const reload = useCallback(async () => {
    try {
      setData(await load());
      setError(undefined);
    } catch (caught) {
      setError(caught);
    }
  }, deps);
  useEffect(() => {
    setData(undefined);
    void reload();
    if (refreshMs <= 0) return undefined;
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') void reload();
    }, refreshMs);
    return () => clearInterval(timer);
  }, [reload]);
  return { data, error, reload };
}
