import { useEffect, useState } from 'preact/hooks';
import { api, type Run } from '../api/client.ts';
import { can } from '../api/auth.ts';
import { t } from '../i18n/index.ts';
import { ErrorBox, Notice, StatusBadge } from '../lib/components.tsx';
import { dateTime, duration } from '../lib/format.ts';
import { followLogs, type LogChunk } from '../lib/log-follow.ts';
import { navigate } from '../lib/router.ts';
import { useFetch } from '../lib/use-fetch.ts';

const ACTIVE = new Set(['pending', 'queued', 'running']);
const RETRYABLE = new Set(['failed', 'timed_out', 'cancelled']);

export function RunView({ id }: { id: string }) {
  const { data: run, error, reload } = useFetch(() => api.get('/api/task-runs/{id}', { params: { id } }), [id], 5_000);
  const [notice, setNotice] = useState<string>();
  const [failure, setFailure] = useState<unknown>();
  if (error) return <section><h1 id="view-title">{t('run.title', { id })}</h1><ErrorBox error={error} /></section>;
  if (!run) return <p>{t('common.loading')}</p>;
  const act = async (action: () => Promise<Run>, what: string) => {
    try {
      const result = await action();
      setNotice(t('action.done', { what }));
      setFailure(undefined);
      if (result.id !== run.id) navigate(`/runs/${result.id}`);
      else await reload();
    } catch (caught) {
      setFailure(caught);
    }
  };
  return (
    <section aria-labelledby="view-title">
      <h1 id="view-title">{t('run.title', { id: run.id })}</h1>
      <p class="meta"><StatusBadge status={run.status} /> · {t('run.task')}: <a href={`/tasks/${run.taskId}`}>{run.taskName}</a></p>
      <div class="toolbar">
        {can('TaskWrite') && ACTIVE.has(run.status) && (
          <button type="button" onClick={() => act(() => api.post('/api/task-runs/{id}/cancel', { params: { id: run.id } }), t('action.cancelRun'))}>{t('action.cancelRun')}</button>
        )}
        {can('TaskWrite') && RETRYABLE.has(run.status) && (
          <button type="button" onClick={() => act(() => api.post('/api/task-runs/{id}/retry', { params: { id: run.id } }), t('action.retryRun'))}>{t('action.retryRun')}</button>
        )}
      </div>
      <Notice text={notice} />
      <ErrorBox error={failure} />
      <dl class="spec">
        <dt>{t('col.scheduled')}</dt><dd>{dateTime(run.scheduledTime)}</dd>
        <dt>{t('col.trigger')}</dt><dd>{run.trigger}</dd>
        <dt>{t('col.attempt')}</dt><dd>{run.attempt}</dd>
        <dt>{t('col.worker')}</dt><dd>{run.workerId ?? t('common.none')}</dd>
        <dt>{t('col.pool')}</dt><dd>{run.pool}</dd>
        <dt>{t('col.duration')}</dt><dd>{duration(run.durationMs)}</dd>
        <dt>{t('run.exit')}</dt><dd>{run.exitCode ?? t('common.none')}</dd>
        <dt>{t('run.http')}</dt><dd>{run.httpStatus ?? t('common.none')}</dd>
        <dt>{t('run.error')}</dt><dd>{run.error ?? t('common.none')}</dd>
      </dl>
      <Attempts run={run} />
      <Logs run={run} />
      <section aria-labelledby="output-title">
        <h2 id="output-title">{t('run.output')}</h2>
        <pre class="output" tabIndex={0}>{run.output ?? t('common.none')}</pre>
      </section>
    </section>
  );
}

/** Every attempt of this fire (the first run and its retries), each with queued, started and finished. */
function Attempts({ run }: { run: Run }) {
  const { data } = useFetch(() => api.get('/api/task-runs', { query: { task: run.taskId, limit: 100 } }), [run.id, run.status], 0);
  const attempts = (data?.items ?? []).filter((r) => r.scheduledTime === run.scheduledTime && r.shard === run.shard).sort((a, b) => a.attempt - b.attempt);
  const list = attempts.length > 0 ? attempts : [run];
  return (
    <section aria-labelledby="attempts-title">
      <h2 id="attempts-title">{t('run.attempts')}</h2>
      <ol class="attempts">
        {list.map((a) => (
          <li key={a.id} class={a.id === run.id ? 'current' : undefined}>
            <a href={`/runs/${a.id}`}>#{a.attempt}</a> <StatusBadge status={a.status} />
            <span> {t('run.queued')} {dateTime(a.queuedAt)} → {t('run.started')} {dateTime(a.startedAt)} → {t('run.finished')} {dateTime(a.finishedAt)}</span>
          </li>
        ))}
      </ol>
    </section>
  );
}

/** The stored log chunks, then the live stream while the run is active; kept on screen after it ends. */
function Logs({ run }: { run: Run }) {
  const [chunks, setChunks] = useState<LogChunk[]>([]);
  const [live, setLive] = useState(false);
  const [failure, setFailure] = useState<unknown>();
  const active = ACTIVE.has(run.status);
  useEffect(() => {
    const abort = new AbortController();
    const seen: LogChunk[] = [];
    const add = (chunk: LogChunk) => {
      seen.push(chunk);
      setChunks([...seen]);
    };
    setChunks([]);
    (async () => {
      if (active) {
        setLive(true);
        await followLogs(run.id, -1, add, () => setLive(false), abort.signal);
        setLive(false);
      } else {
        const page = await api.get('/api/task-runs/{id}/logs', { params: { id: run.id } });
        for (const chunk of page.items) add(chunk);
      }
    })().catch((caught: unknown) => {
      if (!abort.signal.aborted) setFailure(caught);
    });
    return () => abort.abort();
  }, [run.id, active]);
  return (
    <section aria-labelledby="logs-title">
      <h2 id="logs-title">{t('run.logs')} {live && <span class="badge status-running">{t('run.live')}</span>}</h2>
      <ErrorBox error={failure} />
      {chunks.length === 0 ? <p>{t('run.noLogs')}</p> : (
        <pre class="logs" tabIndex={0} aria-live={live ? 'polite' : undefined}>
          {chunks.map((c) => <span key={c.seq} class={c.stream}>{c.chunk}</span>)}
        </pre>
      )}
    </section>
  );
}
