import { useState } from 'preact/hooks';
import { api, type Run, type RunStatus, type Task } from '../api/client.ts';
import { can } from '../api/auth.ts';
import { t } from '../i18n/index.ts';
import { Dialog, ErrorBox, Notice, Sparkline, StatusBadge } from '../lib/components.tsx';
import { dateTime, duration, now, relative } from '../lib/format.ts';
import { describeSchedule } from '../lib/describe-schedule.ts';
import { taskHealth } from '../lib/health.ts';
import { navigate, query, setQuery } from '../lib/router.ts';
import { kubectlCommand, REASON_MAX, resumeTask, retryFailedRuns, suspendTask, SUSPEND_REASON_LABEL } from '../lib/task-actions.ts';
import { useFetch } from '../lib/use-fetch.ts';
import { specYaml, TaskForm, TaskYamlEditor } from './task-edit.tsx';

const STATUSES: RunStatus[] = ['pending', 'queued', 'running', 'succeeded', 'failed', 'timed_out', 'cancelled', 'missed', 'skipped'];

export function TaskView({ id }: { id: string }) {
  const task = useFetch(() => api.get('/api/tasks/{id}', { params: { id } }), [id]);
  const [edited, setEdited] = useState<Task>();
  const current = edited && task.data && edited.updatedAt >= task.data.updatedAt ? edited : task.data;
  if (task.error) return <section><h1 id="view-title">{t('task.title', { name: id })}</h1><ErrorBox error={task.error} /></section>;
  if (!current) return <p>{t('common.loading')}</p>;
  return <TaskPage task={current} reload={async () => { setEdited(undefined); await task.reload(); }} onSaved={setEdited} />;
}

function TaskPage({ task, reload, onSaved }: { task: Task; reload: () => Promise<void>; onSaved: (task: Task) => void }) {
  const [dialog, setDialog] = useState<'suspend' | 'delete' | 'edit' | 'yaml' | undefined>();
  const [reason, setReason] = useState('');
  const [notice, setNotice] = useState<string>();
  const [failure, setFailure] = useState<unknown>();
  const [tab, setTab] = useState<'form' | 'yaml'>('form');
  const readOnly = task.source === 'kubernetes';
  const writable = can('TaskWrite') && !readOnly;
  const health = taskHealth(task, now.value);
  const suspendReason = task.labels[SUSPEND_REASON_LABEL];

  const act = async (what: string, action: () => Promise<unknown>) => {
    try {
      const result = await action();
      setNotice(typeof result === 'string' ? result : t('action.done', { what }));
      setFailure(undefined);
    } catch (caught) {
      setFailure(caught);
    }
    setDialog(undefined);
    await reload();
  };

  return (
    <section aria-labelledby="view-title">
      <h1 id="view-title">{t('task.title', { name: task.namespace ? `${task.namespace}/${task.name}` : task.name })}</h1>
      <p class="meta">
        <span class={`badge health-${health}`}>{t(`health.${health}`)}</span>{' '}
        {task.schedule ? <>{describeSchedule(task.schedule)} (<code>{task.schedule}</code>)</> : t('health.manual')} · {task.timeZone} · {task.type} · {task.pool}
      </p>
      {task.suspend && <p class="suspended" role="note">{suspendReason ? t('task.suspendedBecause', { reason: suspendReason }) : t('task.suspendedNoReason')}</p>}
      {readOnly && (
        <div class="readonly" role="note">
          <p>{t('task.readOnly')}</p>
          <pre><code>{kubectlCommand(task, 'edit')}{'\n'}{kubectlCommand(task, task.suspend ? 'resume' : 'suspend')}</code></pre>
        </div>
      )}
      <div class="toolbar">
        {can('TaskWrite') && (
          <button type="button" class="primary" onClick={() => act(t('action.trigger'), async () => {
            const run = await api.post('/api/tasks/{id}/trigger', { params: { id: task.id } });
            return t('action.triggered', { id: run.id });
          })}>{t('action.trigger')}</button>
        )}
        {writable && !task.suspend && <button type="button" onClick={() => setDialog('suspend')}>{t('action.suspend')}</button>}
        {writable && task.suspend && <button type="button" onClick={() => act(t('action.resume'), () => resumeTask(task))}>{t('action.resume')}</button>}
        {writable && <button type="button" onClick={() => setDialog('edit')}>{t('action.edit')}</button>}
        {writable && can('TaskDelete') && <button type="button" class="danger" onClick={() => setDialog('delete')}>{t('action.delete')}</button>}
      </div>
      <Notice text={notice} />
      <ErrorBox error={failure} />
      <div class="columns">
        <section aria-labelledby="spec-title">
          <h2 id="spec-title">{t('task.spec')}</h2>
          <div role="tablist" aria-label={t('task.spec')} class="tabs" onKeyDown={(e) => {
            // the tabs pattern: arrow keys move between tabs, Tab moves into the panel
            if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') return;
            const next = tab === 'form' ? 'yaml' : 'form';
            setTab(next);
            (document.getElementById(`tab-${next}`) as HTMLElement | null)?.focus();
          }}>
            <button type="button" role="tab" id="tab-form" aria-controls="spec-panel" tabIndex={tab === 'form' ? 0 : -1} aria-selected={tab === 'form'} onClick={() => setTab('form')}>{t('task.form')}</button>
            <button type="button" role="tab" id="tab-yaml" aria-controls="spec-panel" tabIndex={tab === 'yaml' ? 0 : -1} aria-selected={tab === 'yaml'} onClick={() => setTab('yaml')}>{t('task.yaml')}</button>
          </div>
          <div role="tabpanel" id="spec-panel" aria-labelledby={`tab-${tab}`}>
            {tab === 'form' ? <SpecTable task={task} /> : <pre class="yaml" tabIndex={0}><code>{specYaml(task)}</code></pre>}
          </div>
          {writable && tab === 'yaml' && <button type="button" onClick={() => setDialog('yaml')}>{t('field.yaml')}</button>}
        </section>
        <NextFires task={task} />
      </div>
      <Trends task={task} />
      <History task={task} writable={can('TaskWrite')} onNotice={setNotice} />
      {dialog === 'suspend' && (
        <Dialog title={t('action.suspend')} onClose={() => setDialog(undefined)}>
          <form onSubmit={(e) => { e.preventDefault(); void act(t('action.suspend'), () => suspendTask(task, reason)); }}>
            <label>
              {t('action.reason')}
              <input value={reason} maxLength={REASON_MAX} onInput={(e) => setReason((e.currentTarget as HTMLInputElement).value)} />
            </label>
            <div class="buttons">
              <button type="button" onClick={() => setDialog(undefined)}>{t('common.cancel')}</button>
              <button type="submit" class="primary">{t('action.suspend')}</button>
            </div>
          </form>
        </Dialog>
      )}
      {dialog === 'delete' && (
        <Dialog title={t('action.delete')} onClose={() => setDialog(undefined)}>
          <p>{t('action.confirmDelete', { name: task.name })}</p>
          <div class="buttons">
            <button type="button" onClick={() => setDialog(undefined)}>{t('common.cancel')}</button>
            <button type="button" class="danger" onClick={async () => {
              try {
                await api.delete('/api/tasks/{id}', { params: { id: task.id } });
                navigate('/');
              } catch (caught) {
                setFailure(caught);
                setDialog(undefined);
              }
            }}>{t('action.delete')}</button>
          </div>
        </Dialog>
      )}
      {dialog === 'edit' && (
        <Dialog title={t('action.edit')} onClose={() => setDialog(undefined)}>
          <TaskForm task={task} onCancel={() => setDialog(undefined)} onSaved={(saved) => { onSaved(saved); setDialog(undefined); setNotice(t('action.done', { what: t('action.edit') })); }} />
        </Dialog>
      )}
      {dialog === 'yaml' && (
        <Dialog title={t('field.yaml')} onClose={() => setDialog(undefined)}>
          <TaskYamlEditor task={task} onCancel={() => setDialog(undefined)} onSaved={(saved) => { onSaved(saved); setDialog(undefined); }} />
        </Dialog>
      )}
    </section>
  );
}

function SpecTable({ task }: { task: Task }) {
  const rows: Array<[string, string]> = [
    [t('field.schedule'), task.schedule ?? t('health.manual')],
    [t('field.timeZone'), task.timeZone],
    [t('schedules.type'), task.type],
    ...(task.shell ? [[t('field.command'), task.shell.command.join(' ')] as [string, string]] : []),
    ...(task.http ? [[t('field.url'), `${task.http.method} ${task.http.url}`] as [string, string]] : []),
    [t('field.timeoutSeconds'), String(task.timeoutSeconds)],
    [t('field.pool'), task.pool],
    [t('field.concurrencyPolicy'), task.concurrencyPolicy],
    [t('field.catchUp'), task.catchUp],
    [t('field.retry'), JSON.stringify(task.retry)],
    [t('col.labels'), Object.entries(task.labels).map(([k, v]) => `${k}=${v}`).join(', ') || t('common.none')],
  ];
  return (
    <dl class="spec">
      {rows.map(([k, v]) => [<dt key={`${k}-k`}>{k}</dt>, <dd key={`${k}-v`}>{v}</dd>])}
    </dl>
  );
}

function NextFires({ task }: { task: Task }) {
  const { data, error } = useFetch(() => api.get('/api/tasks/{id}/next-fires', { params: { id: task.id }, query: { count: 10 } }), [task.id, task.updatedAt], 60_000);
  return (
    <section aria-labelledby="fires-title">
      <h2 id="fires-title">{t('task.nextFires')}</h2>
      <ErrorBox error={error} />
      {data && data.fires.length === 0 && <p>{t('task.noFires')}</p>}
      {data && data.fires.length > 0 && (
        <ol class="fires">
          {data.fires.map((fire) => (
            <li key={fire}>
              <time class="fire" dateTime={fire}>{t('task.fireIn', { local: dateTime(fire, data.timeZone), zone: data.timeZone, relative: relative(fire) })}</time>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

const TREND_DAYS = [1, 7, 30] as const;

/** Success rate and p50/p95 durations over the last day, week and month, side by side: the trend. */
function Trends({ task }: { task: Task }) {
  const { data, error } = useFetch(
    () => Promise.all(TREND_DAYS.map((days) => api.get('/api/tasks/{id}/stats', { params: { id: task.id }, query: { days } }))),
    [task.id],
    60_000,
  );
  const rate = (r: number | null) => (r === null ? t('common.none') : `${(r * 100).toFixed(1)} %`);
  return (
    <section aria-labelledby="trends-title">
      <h2 id="trends-title">{t('task.trends')}</h2>
      <ErrorBox error={error} />
      {data && (
        <div class="table-wrap">
          <table class="trends">
            <thead>
              <tr>
                <td />
                {TREND_DAYS.map((days) => <th scope="col" key={days}>{t('task.lastDays', { count: days })}</th>)}
              </tr>
            </thead>
            <tbody>
              <tr><th scope="row">{t('task.total')}</th>{data.map((d) => <td key={d.days}>{d.total}</td>)}</tr>
              <tr><th scope="row">{t('task.successRate')}</th>{data.map((d) => <td key={d.days}>{rate(d.successRate)}</td>)}</tr>
              <tr><th scope="row">{t('task.p50')}</th>{data.map((d) => <td key={d.days}>{duration(d.durationMs.p50)}</td>)}</tr>
              <tr><th scope="row">{t('task.p95')}</th>{data.map((d) => <td key={d.days}>{duration(d.durationMs.p95)}</td>)}</tr>
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function History({ task, writable, onNotice }: { task: Task; writable: boolean; onNotice: (text: string) => void }) {
  const q = query();
  const status = q.get('status') ?? '';
  const from = q.get('from') ?? '';
  const to = q.get('to') ?? '';
  const cursor = q.get('runs') ?? '';
  const { data, error, reload } = useFetch(
    () =>
      api.get('/api/task-runs', {
        query: { task: task.id, limit: 50, ...(status ? { status } : {}), ...(from ? { from: new Date(from).toISOString() } : {}), ...(to ? { to: new Date(to).toISOString() } : {}), ...(cursor ? { cursor } : {}) },
      }),
    [task.id, status, from, to, cursor],
  );
  const [failure, setFailure] = useState<unknown>();
  const runs: Run[] = data?.items ?? [];
  const durations = runs.filter((r) => r.durationMs !== null).map((r) => r.durationMs as number).reverse();
  const retryFailed = async () => {
    try {
      const { retried, refused } = await retryFailedRuns(task.id);
      onNotice(t('action.retried', { count: retried }));
      setFailure(refused[0]);
    } catch (caught) {
      setFailure(caught);
    }
    await reload();
  };
  return (
    <section aria-labelledby="history-title">
      <h2 id="history-title">{t('task.history')}</h2>
      <div class="filters">
        <label>
          {t('task.statusFilter')}
          <select value={status} onChange={(e) => setQuery({ status: (e.currentTarget as HTMLSelectElement).value, runs: undefined }, { replace: true })}>
            <option value="">{t('task.anyStatus')}</option>
            {STATUSES.map((s) => <option key={s} value={s}>{t(`status.${s}`)}</option>)}
          </select>
        </label>
        <label>{t('task.from')} <input type="datetime-local" value={from} onChange={(e) => setQuery({ from: (e.currentTarget as HTMLInputElement).value }, { replace: true })} /></label>
        <label>{t('task.to')} <input type="datetime-local" value={to} onChange={(e) => setQuery({ to: (e.currentTarget as HTMLInputElement).value }, { replace: true })} /></label>
        {writable && <button type="button" onClick={retryFailed}>{t('action.retryFailed')}</button>}
        <span>{t('task.durations')}: <Sparkline values={durations} label={t('task.durations')} /></span>
      </div>
      <ErrorBox error={failure ?? error} />
      <RunTable runs={runs} />
      <nav class="pager" aria-label={t('task.history')}>
        {cursor && <button type="button" onClick={() => setQuery({ runs: undefined })}>{t('common.first')}</button>}
        {data?.nextCursor && <button type="button" onClick={() => setQuery({ runs: data.nextCursor ?? undefined })}>{t('common.next')}</button>}
      </nav>
    </section>
  );
}

export function RunTable({ runs, showTask = false }: { runs: Run[]; showTask?: boolean }) {
  if (runs.length === 0) return <p>{t('common.none')}</p>;
  return (
    <div class="table-wrap">
      <table>
        <thead>
          <tr>
            <th scope="col">{t('col.status')}</th>
            {showTask && <th scope="col">{t('run.task')}</th>}
            <th scope="col">{t('col.scheduled')}</th>
            <th scope="col">{t('col.started')}</th>
            <th scope="col">{t('col.duration')}</th>
            <th scope="col">{t('col.attempt')}</th>
            <th scope="col">{t('col.trigger')}</th>
            <th scope="col">{t('col.worker')}</th>
          </tr>
        </thead>
        <tbody>
          {runs.map((run) => (
            <tr key={run.id}>
              <td><a href={`/runs/${run.id}`}><StatusBadge status={run.status} /></a></td>
              {showTask && <td><a href={`/tasks/${run.taskId}`}>{run.taskName}</a></td>}
              <td>{dateTime(run.scheduledTime)}</td>
              <td>{dateTime(run.startedAt)}</td>
              <td>{duration(run.durationMs)}</td>
              <td>{run.attempt}</td>
              <td>{run.trigger}</td>
              <td>{run.workerId ?? t('common.none')}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
