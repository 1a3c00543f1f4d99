import { api, ApiError } from '../api/client.ts';
import { t } from '../i18n/index.ts';
import { ErrorBox } from '../lib/components.tsx';
import { duration } from '../lib/format.ts';
import { useFetch } from '../lib/use-fetch.ts';
import { RunTable } from './task.tsx';

interface Component {
  ok: boolean;
  latencyMs?: number;
  reason?: string;
  detail?: unknown;
}

/** Health of each component, version and leader, counts, and the latest failures. */
export function SystemView() {
  const info = useFetch(() => api.get('/api/system/info'), []);
  // a 503 (a component down) still carries the body
  const health = useFetch(async () => {
    try {
      return (await api.get('/api/system/health/detailed')) as { status: string; components: Record<string, Component> };
    } catch (caught) {
      if (caught instanceof ApiError && caught.status === 503) return caught.body as { status: string; components: Record<string, Component> };
      throw caught;
    }
  }, []);
  const stats = useFetch(() => api.get('/api/system/stats'), []);
  const failures = useFetch(() => api.get('/api/task-runs', { query: { status: 'failed,timed_out', limit: 10 } }), []);
  const dispatcher = health.data?.components.dispatcher?.detail as { leaderElected?: boolean; thisProcess?: boolean; firePartitionsHeld?: number; firePartitions?: number } | undefined;
  return (
    <section aria-labelledby="view-title">
      <h1 id="view-title">{t('system.title')}</h1>
      <div class="columns">
        <section aria-labelledby="info-title">
          <h2 id="info-title">{t('system.version')}</h2>
          <ErrorBox error={info.error} />
          {info.data && (
            <dl class="spec">
              <dt>{t('system.version')}</dt><dd>{info.data.version}</dd>
              <dt>{t('system.mode')}</dt><dd>{info.data.mode}</dd>
              <dt>{t('system.environment')}</dt><dd>{info.data.environment}</dd>
              <dt>{t('system.uptime')}</dt><dd>{duration(info.data.uptimeSeconds * 1000)}</dd>
              <dt>{t('system.leader')}</dt><dd>{dispatcher ? `${dispatcher.leaderElected ? t('system.yes') : t('system.no')}${dispatcher.thisProcess ? ` (${t('system.leaderHere')})` : ''}` : t('common.none')}</dd>
              {dispatcher?.firePartitions !== undefined && <><dt>{t('system.firePartitions')}</dt><dd>{t('system.firePartitionsHeld', { held: dispatcher.firePartitionsHeld ?? 0, all: dispatcher.firePartitions })}</dd></>}
              <dt>{t('system.node')}</dt><dd>{info.data.node}</dd>
              <dt>{t('system.storage')}</dt><dd>{info.data.database} / {info.data.queue}</dd>
            </dl>
          )}
        </section>
        <section aria-labelledby="health-title">
          <h2 id="health-title">{t('system.health')}</h2>
          <ErrorBox error={health.error} />
          {health.data && (
            <ul class="health">
              {Object.entries(health.data.components).map(([name, c]) => (
                <li key={name}>
                  <span class={`badge ${c.ok ? 'status-succeeded' : 'status-failed'}`}>{c.ok ? t('system.ok') : t('system.down')}</span> <strong>{name}</strong>
                  {c.latencyMs !== undefined && <span> · {Math.round(c.latencyMs)} ms</span>}
                  {c.reason && <span> · {c.reason}</span>}
                </li>
              ))}
            </ul>
          )}
        </section>
        <section aria-labelledby="counts-title">
          <h2 id="counts-title">{t('system.counts')}</h2>
          <ErrorBox error={stats.error} />
          {stats.data && <pre class="yaml" tabIndex={0}>{JSON.stringify(stats.data, null, 2)}</pre>}
        </section>
      </div>
      <section aria-labelledby="errors-title">
        <h2 id="errors-title">{t('system.recentErrors')}</h2>
        <ErrorBox error={failures.error} />
        {failures.data && <RunTable runs={failures.data.items} showTask />}
      </section>
    </section>
  );
}
