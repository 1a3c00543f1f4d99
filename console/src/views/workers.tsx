import { useState } from 'preact/hooks';
import { api, type Worker } from '../api/client.ts';
import { can } from '../api/auth.ts';
import { t } from '../i18n/index.ts';
import { Countdown, Dialog, ErrorBox, Notice, StatusBadge } from '../lib/components.tsx';
import { useFetch } from '../lib/use-fetch.ts';

export function WorkersView() {
  const workers = useFetch(() => api.get('/api/workers', { query: { limit: 200 } }), []);
  const pools = useFetch(() => api.get('/api/pools'), []);
  const [draining, setDraining] = useState<Worker>();
  const [notice, setNotice] = useState<string>();
  const [failure, setFailure] = useState<unknown>();
  const drain = async (worker: Worker) => {
    try {
      await api.post('/api/workers/{id}/drain', { params: { id: worker.id } });
      setNotice(t('action.done', { what: `${t('action.drain')} ${worker.id}` }));
      setFailure(undefined);
    } catch (caught) {
      setFailure(caught);
    }
    setDraining(undefined);
    await workers.reload();
  };
  return (
    <section aria-labelledby="view-title">
      <h1 id="view-title">{t('workers.title')}</h1>
      <Notice text={notice} />
      <ErrorBox error={failure ?? workers.error} />
      {workers.data && workers.data.items.length === 0 && <p>{t('workers.empty')}</p>}
      {workers.data && workers.data.items.length > 0 && (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">{t('col.worker')}</th>
                <th scope="col">{t('col.status')}</th>
                <th scope="col">{t('col.pool')}</th>
                <th scope="col">{t('col.load')}</th>
                <th scope="col">{t('col.activeRuns')}</th>
                <th scope="col">{t('col.lastSeen')}</th>
                <th scope="col">{t('col.actions')}</th>
              </tr>
            </thead>
            <tbody>
              {workers.data.items.map((w) => (
                <tr key={w.id}>
                  <td>{w.id}<br /><small>{w.hostname} · {w.version}</small></td>
                  <td><StatusBadge status={w.status} /></td>
                  <td>{w.pool}</td>
                  <td><meter min={0} max={100} value={w.loadPercentage} aria-label={`${t('col.load')} ${w.id}`}>{w.loadPercentage}%</meter> {Math.round(w.loadPercentage)}%</td>
                  <td>{w.activeRuns} / {w.concurrency}</td>
                  <td><Countdown iso={w.lastHeartbeatAt} /></td>
                  <td>{can('WorkerWrite') && w.status === 'ALIVE' && <button type="button" onClick={() => setDraining(w)}>{t('action.drain')}</button>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <h2>{t('workers.pools')}</h2>
      <ErrorBox error={pools.error} />
      {pools.data && (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">{t('col.pool')}</th>
                <th scope="col">{t('col.source')}</th>
                <th scope="col">{t('col.workersAlive')}</th>
                <th scope="col">{t('col.activeRuns')}</th>
                <th scope="col">{t('col.backlog')}</th>
              </tr>
            </thead>
            <tbody>
              {pools.data.items.map((p) => (
                <tr key={`${p.namespace ?? ''}/${p.name}`}>
                  <td>{p.namespace ? `${p.namespace}/` : ''}{p.name}</td>
                  <td>{p.source === 'kubernetes' ? t('source.kubernetes', { namespace: p.namespace ?? '' }) : t('source.api')}</td>
                  <td>{p.workersAlive}</td>
                  <td>{p.activeRuns}</td>
                  <td>{p.backlog}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {draining && (
        <Dialog title={t('action.drain')} onClose={() => setDraining(undefined)}>
          <p>{t('action.confirmDrain', { id: draining.id })}</p>
          <div class="buttons">
            <button type="button" onClick={() => setDraining(undefined)}>{t('common.cancel')}</button>
            <button type="button" class="danger" onClick={() => drain(draining)}>{t('action.drain')}</button>
          </div>
        </Dialog>
      )}
    </section>
  );
}
