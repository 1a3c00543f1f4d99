import { signal } from '@preact/signals';

/** The current URL: every view and its filters live here, so any view can be shared as a link. */
export const location = signal({ path: window.location.pathname, search: window.location.search });

function sync(): void {
  location.value = { path: window.location.pathname, search: window.location.search };
}
window.addEventListener('popstate', sync);

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  if (options.replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  sync();
  if (!options.replace) window.scrollTo(0, 0);
}

export function query(): URLSearchParams {
  return new URLSearchParams(location.value.search);
}

/** Replaces some query parameters of the current view (empty values are dropped). */
export function setQuery(changes: Record<string, string | undefined>, options: { replace?: boolean } = {}): void {
  const next = query();
  for (const [key, value] of Object.entries(changes)) {
    if (value === undefined || value === '') next.delete(key);
    else next.set(key, value);
  }
  const qs = next.toString();
  navigate(`${location.value.path}${qs ? `?${qs}` : ''}`, options);
}

export type Route =
  | { view: 'schedules' }
  | { view: 'task'; id: string }
  | { view: 'run'; id: string }
  | { view: 'workers' }
  | { view: 'system' }
  | { view: 'timeline' }
  | { view: 'login' }
  | { view: 'missing' };

/** The same paths api/routes/console.ts serves the page for. */
export function match(path: string): Route {
  if (path === '/') return { view: 'schedules' };
  const task = /^\/tasks\/([^/]+)$/.exec(path);
  if (task) return { view: 'task', id: decodeURIComponent(task[1] as string) };
  const run = /^\/runs\/([^/]+)$/.exec(path);
  if (run) return { view: 'run', id: decodeURIComponent(run[1] as string) };
  if (path === '/workers') return { view: 'workers' };
  if (path === '/system') return { view: 'system' };
  if (path === '/timeline') return { view: 'timeline' };
  if (path === '/login') return { view: 'login' };
  return { view: 'missing' };
}

/** A click on an in-app link changes the view without reloading the page. */
export function onLinkClick(event: MouseEvent): void {
  const anchor = (event.target as HTMLElement).closest('a');
  if (!anchor || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const href = anchor.getAttribute('href');
  if (!href || !href.startsWith('/') || href.startsWith('/api') || anchor.target) return;
  event.preventDefault();
  navigate(href);
}
