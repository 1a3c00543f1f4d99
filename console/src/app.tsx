import { useEffect } from 'preact/hooks';
import { signal } from '@preact/signals';
import { authState, checkSession, signedOut } from './api/auth.ts';
import { language, setLanguage, t, type Language } from './i18n/index.ts';
import { location, match, navigate, onLinkClick } from './lib/router.ts';
import { lazyView } from './lib/lazy.tsx';
import { LoginView } from './views/login.tsx';
import { SchedulesView } from './views/schedules.tsx';

// the schedules list is the first page: in the main chunk; every other view is loaded when opened
const TaskView = lazyView(async () => (await import('./views/task.tsx')).TaskView);
const RunView = lazyView(async () => (await import('./views/run.tsx')).RunView);
const WorkersView = lazyView(async () => (await import('./views/workers.tsx')).WorkersView);
const SystemView = lazyView(async () => (await import('./views/system.tsx')).SystemView);
const TimelineView = lazyView(async () => (await import('./views/timeline.tsx')).TimelineView);

type Theme = 'system' | 'light' | 'dark';
const theme = signal<Theme>((localStorage.getItem('hourglass.theme') as Theme | null) ?? 'system');

function applyTheme(next: Theme): void {
  theme.value = next;
  localStorage.setItem('hourglass.theme', next);
  document.documentElement.dataset.theme = next;
}

const NAV = [
  { href: '/', key: 'nav.schedules', views: ['schedules', 'task', 'run'] },
  { href: '/timeline', key: 'nav.timeline', views: ['timeline'] },
  { href: '/workers', key: 'nav.workers', views: ['workers'] },
  { href: '/system', key: 'nav.system', views: ['system'] },
] as const;

export function App() {
  useEffect(() => {
    applyTheme(theme.value);
    setLanguage(language.value);
    void checkSession();
  }, []);
  const route = match(location.value.path);
  useEffect(() => {
    if (authState.value === 'required' && route.view !== 'login') navigate(`/login?next=${encodeURIComponent(location.value.path + location.value.search)}`, { replace: true });
  }, [authState.value, route.view]);
  useEffect(() => {
    // the title names the view, and focus moves to it, so a screen reader hears the navigation
    document.title = `${document.querySelector('h1')?.textContent ?? ''} · ${t('app.title')}`;
  });
  // views start loading at once, beside whoami: without a valid credential their first call answers
  // 401, which sends the user to the sign-in view
  const ready = authState.value !== 'required' || route.view === 'login';
  return (
    <div class="shell" onClick={onLinkClick}>
      <a class="skip" href="#main">{t('nav.main')}</a>
      <header>
        <a class="brand" href="/"><img src="/favicon.svg" alt="" width={18} height={18} /> {t('app.title')}</a>
        <nav aria-label={t('nav.main')}>
          <ul>
            {NAV.map((item) => (
              <li key={item.href}>
                <a href={item.href} aria-current={(item.views as readonly string[]).includes(route.view) ? 'page' : undefined}>{t(item.key)}</a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="prefs">
          <label>
            <span class="sr-only">{t('pref.language')}</span>
            <select aria-label={t('pref.language')} value={language.value} onChange={(e) => setLanguage((e.currentTarget as HTMLSelectElement).value as Language)}>
              <option value="en" lang="en">English</option>
              <option value="zh" lang="zh-CN">简体中文</option>
            </select>
          </label>
          <label>
            <span class="sr-only">{t('pref.theme')}</span>
            <select aria-label={t('pref.theme')} value={theme.value} onChange={(e) => applyTheme((e.currentTarget as HTMLSelectElement).value as Theme)}>
              <option value="system">{t('pref.system')}</option>
              <option value="light">{t('pref.light')}</option>
              <option value="dark">{t('pref.dark')}</option>
            </select>
          </label>
          {authState.value === 'signed-in' && <button type="button" onClick={signedOut}>{t('nav.signOut')}</button>}
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {!ready ? <p>{t('common.loading')}</p> : <View route={route} />}
      </main>
    </div>
  );
}

function View({ route }: { route: ReturnType<typeof match> }) {
  switch (route.view) {
    case 'schedules': return <SchedulesView />;
    case 'task': return <TaskView id={route.id} />;
    case 'run': return <RunView id={route.id} />;
    case 'workers': return <WorkersView />;
    case 'system': return <SystemView />;
    case 'timeline': return <TimelineView />;
    case 'login': return <LoginView />;
    default: return <section><h1>{t('common.notFound')}</h1></section>;
  }
}
