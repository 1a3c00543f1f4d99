import { h, type ComponentType, type FunctionComponent } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { t } from '../i18n/index.ts';

/**
 * A view loaded on first use (its own chunk), so the first page — the schedules list — parses only
 * what it needs. Same-origin chunks: the console's CSP (script-src 'self') allows them.
 */
export function lazyView<P extends object>(load: () => Promise<ComponentType<P>>): FunctionComponent<P> {
  let loaded: ComponentType<P> | undefined;
  let pending: Promise<void> | undefined;
  return function LazyView(props: P) {
    const [, setReady] = useState(false);
    useEffect(() => {
      if (loaded) return;
      pending ??= load().then((component) => {
        loaded = component;
      });
      void pending.then(() => setReady(true));
    }, []);
    return loaded ? h(loaded, props) : <p>{t('common.loading')}</p>;
  };
}
