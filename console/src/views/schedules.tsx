import { useState } from 'preact/hooks';
import { api, type Run, type Task } from '../api/client.ts';
import { can } from '../api/auth.ts';
import { t } from '../i18n/index.ts';
import { Countdown, Dialog, ErrorBox, Notice, Sparkline, StatusBadge } from '../lib/components.tsx';
import { now } from '../lib/format.ts';
import { describeSchedule } from '../lib/describe-schedule.ts';
import { taskHealth } from '../lib/health.ts';
import { query, setQuery } from '../lib/router.ts';
import { REASON_MAX, resumeTask, suspendTask } from '../lib/task-actions.ts';
import { useFetch } from '../lib/use-fetch.ts';

const PAGE = 50;
const RECENT_RUNS = 500;
const FINISHED = new Set(['succeeded', 'failed', 'timed_out']);

interface Trend {
  successRate: number | null;
  durations: number[];
}

/** Success rate and durations per task, from the newest runs of all tasks (oldest first). */
function trendsByTask(runs: Run[]): Map<string, Trend> {
  const byTask = new Map<string, Run[]>();
  for (const run of runs) {
    if (!FINISHED.has(run.status)) continue;
    byTask.set(run.taskId, [...(byTask.get(run.taskId) ?? []), run]);
  }
  const out = new Map<string, Trend>();
  for (const [taskId, list] of byTask) {
    const ordered = list.slice(0, 30).reverse();
    out.set(taskId, {
      successRate: ordered.filter((r) => r.status === 'succeeded').length / ordered.length,
      durations: ordered.filter((r) => r.durationMs !== null).map((r) => r.durationMs as number),
    });
  }
  return out;
}
type SortKey = 'name' | 'next' | 'last' | 'health';

function sortTasks(tasks: Task[], key: SortKey, nowMs: number): Task[] {
  const by: Record<SortKey, (t: Task) => string | number> = {
    name: (task) => `${task.namespace ?? ''}/${task.name}`,
    next: (task) => (task.nextScheduleTime ? Date.parse(task.nextScheduleTime) : Number.MAX_SAFE_INTEGER),
    last: (task) => task.lastRun?.status ?? '~',
    health: (task) => ['late', 'silent', 'ok', 'suspended', 'manual'].indexOf(taskHealth(task, nowMs)),
  };
  const f = by[key];
  return [...tasks].sort((a, b) => (f(a) < f(b) ? -1 : f(a) > f(b) ? 1 : 0));
}

/** Every task with its schedule: server-side search, filters and keyset pages; bulk suspend/resume. */
export function SchedulesView() {
  const q = query();
  const filters = { name: q.get('q') ?? '', suspended: q.get('state') ?? '', type: q.get('type') ?? '', pool: q.get('pool') ?? '', label: q.get('label') ?? '', cursor: q.get('cursor') ?? '' };
  const sort = (q.get('sort') ?? 'name') as SortKey;
  const { data, error, reload } = useFetch(
    () =>
      api.get('/api/tasks', {
        query: {
          limit: PAGE,
          ...(filters.name ? { name: filters.name } : {}),
          ...(filters.suspended ? { suspended: filters.suspended as 'true' | 'false' } : {}),
          ...(filters.type ? { type: filters.type } : {}),
          ...(filters.pool ? { pool: filters.pool } : {}),
          ...(filters.label ? { label: filters.label } : {}),
          ...(filters.cursor ? { cursor: filters.cursor } : {}),
        },
      }),
    [JSON.stringify(filters)],
  );
  // one request for the whole page's trends (the newest runs of every task), refreshed every 30 s; it
  // waits for the list, so the server answers the request that paints the page first
  const listed = data !== undefined;
  const recent = useFetch(async () => (listed ? api.get('/api/task-runs', { query: { limit: RECENT_RUNS } }) : undefined), [listed], 30_000);
  const trends = trendsByTask(recent.data?.items ?? []);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [bulk, setBulk] = useState<'suspend' | 'resume' | undefined>();
  const [reason, setReason] = useState('');
  const [notice, setNotice] = useState<string>();
  const [actionError, setActionError] = useState<unknown>();
  const writable = can('TaskWrite');
  const tasks = data ? sortTasks(data.items, sort, now.value) : [];
  const selectable = tasks.filter((task) => task.source !== 'kubernetes');

  const submitFilters = (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const value = (name: string) => String(form.get(name) ?? '').trim();
    setQuery({ q: value('q'), state: value('state'), type: value('type'), pool: value('pool'), label: value('label'), cursor: undefined });
  };

  const runBulk = async () => {
    const chosen = selectable.filter((task) => selected.has(task.id));
    try {
      for (const task of chosen) {
        if (bulk === 'suspend') await suspendTask(task, reason);
        else await resumeTask(task);
      }
      setNotice(t('action.done', { what: `${bulk === 'suspend' ? t('action.suspend') : t('action.resume')} × ${chosen.length}` }));
      setSelected(new Set());
      setActionError(undefined);
    } catch (caught) {
      setActionError(caught);
    }
    setBulk(undefined);
    setReason('');
    await reload();
  };

  return (
    <section aria-labelledby="view-title">
      <h1 id="view-title">{t('schedules.title')}</h1>
      {/* uncontrolled fields (the countdown re-renders every second), remounted when the URL changes */}
      <form class="filters" role="search" onSubmit={submitFilters} key={JSON.stringify(filters)}>
        <label>
          {t('schedules.search')}
          <input name="q" type="search" defaultValue={filters.name} maxLength={63} />
        </label>
        <label>
          {t('schedules.filterState')}
          <select name="state" defaultValue={filters.suspended}>
            <option value="">{t('schedules.all')}</option>
            <option value="false">{t('schedules.active')}</option>
            <option value="true">{t('schedules.suspended')}</option>
          </select>
        </label>
        <label>
          {t('schedules.type')}
          <select name="type" defaultValue={filters.type}>
            <option value="">{t('schedules.anyType')}</option>
            <option value="shell">shell</option>
            <option value="http">http</option>
          </select>
        </label>
        <label>
          {t('schedules.pool')}
          <input name="pool" defaultValue={filters.pool} maxLength={63} size={10} />
        </label>
        <label>
          {t('schedules.label')}
          <input name="label" defaultValue={filters.label} size={14} />
        </label>
        <button type="submit">{t('schedules.apply')}</button>
        <label>
          {t('schedules.sort')}
          <select value={sort} onChange={(e) => setQuery({ sort: (e.currentTarget as HTMLSelectElement).value }, { replace: true })}>
            <option value="name">{t('col.name')}</option>
            <option value="next">{t('col.nextFire')}</option>
            <option value="last">{t('col.lastResult')}</option>
            <option value="health">{t('col.health')}</option>
          </select>
        </label>
      </form>
      {writable && (
        <div class="toolbar">
          <span>{t('schedules.selected', { count: selected.size })}</span>
          <button type="button" disabled={selected.size === 0} onClick={() => setBulk('suspend')}>{t('schedules.bulkSuspend')}</button>
          <button type="button" disabled={selected.size === 0} onClick={() => setBulk('resume')}>{t('schedules.bulkResume')}</button>
        </div>
      )}
      <Notice text={notice} />
      <ErrorBox error={actionError ?? error} />
      {!data && !error && <p>{t('common.loading')}</p>}
      {data && tasks.length === 0 && <p>{t('schedules.empty')}</p>}
      {tasks.length > 0 && (
        <div class="table-wrap">
          <table>
            <caption class="sr-only">{t('schedules.count', { count: tasks.length })}</caption>
            <thead>
              <tr>
                {writable && (
                  <th scope="col">
                    <input
                      type="checkbox"
                      aria-label={t('schedules.selectAll')}
                      checked={selectable.length > 0 && selectable.every((task) => selected.has(task.id))}
                      onChange={(e) => setSelected(new Set((e.currentTarget as HTMLInputElement).checked ? selectable.map((task) => task.id) : []))}
                    />
                  </th>
                )}
                <th scope="col">{t('col.name')}</th>
                <th scope="col">{t('col.schedule')}</th>
                <th scope="col">{t('col.timeZone')}</th>
                <th scope="col">{t('col.nextFire')}</th>
                <th scope="col">{t('col.lastResult')}</th>
                <th scope="col">{t('col.health')}</th>
                <th scope="col">{t('col.successRate')}</th>
                <th scope="col">{t('col.durations')}</th>
                <th scope="col">{t('col.source')}</th>
                <th scope="col">{t('col.labels')}</th>
              </tr>
            </thead>
            <tbody>
              {tasks.map((task) => (
                <TaskRow key={task.id} task={task} trend={trends.get(task.id)} writable={writable} selected={selected.has(task.id)} onSelect={(on) => {
                  const next = new Set(selected);
                  if (on) next.add(task.id);
                  else next.delete(task.id);
                  setSelected(next);
                }} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <nav class="pager" aria-label={t('schedules.count', { count: tasks.length })}>
        {filters.cursor && <button type="button" onClick={() => setQuery({ cursor: undefined })}>{t('common.first')}</button>}
        {data?.nextCursor && <button type="button" onClick={() => setQuery({ cursor: data.nextCursor ?? undefined })}>{t('common.next')}</button>}
      </nav>
      {bulk && (
        <Dialog title={bulk === 'suspend' ? t('schedules.bulkSuspend') : t('schedules.bulkResume')} onClose={() => setBulk(undefined)}>
          <form method="dialog" onSubmit={(e) => { e.preventDefault(); void runBulk(); }}>
            <p>{t('schedules.selected', { count: selected.size })}</p>
            {bulk === 'suspend' && (
              <label>
                {t('action.reason')}
                <input value={reason} maxLength={REASON_MAX} onInput={(e) => setReason((e.currentTarget as HTMLInputElement).value)} />
              </label>
            )}
            <div class="buttons">
              <button type="button" onClick={() => setBulk(undefined)}>{t('common.cancel')}</button>
              <button type="submit" class="primary">{t('common.confirm')}</button>
            </div>
          </form>
        </Dialog>
      )}
    </section>
  );
}

function TaskRow({ task, trend, writable, selected, onSelect }: { task: Task; trend: Trend | undefined; writable: boolean; selected: boolean; onSelect: (on: boolean) => void }) {
  const health = taskHealth(task, now.value);
  const hint = health === 'late' ? t('health.lateHint') : health === 'silent' ? t('health.silentHint') : undefined;
  return (
    <tr>
      {writable && (
        <td>
          {task.source !== 'kubernetes' && (
            <input type="checkbox" aria-label={t('schedules.select', { name: task.name })} checked={selected} onChange={(e) => onSelect((e.currentTarget as HTMLInputElement).checked)} />
          )}
        </td>
      )}
      <td><a href={`/tasks/${encodeURIComponent(task.id)}`}>{task.namespace ? `${task.namespace}/` : ''}{task.name}</a></td>
      <td>{task.schedule ? <>{describeSchedule(task.schedule)}<br /><code>{task.schedule}</code></> : t('health.manual')}</td>
      <td>{task.timeZone}</td>
      <td><Countdown iso={task.nextScheduleTime} /></td>
      <td>{task.lastRun ? <a href={`/runs/${task.lastRun.id}`}><StatusBadge status={task.lastRun.status} /></a> : <StatusBadge status={undefined} />}</td>
      <td><span class={`badge health-${health}`} title={hint}>{t(`health.${health}`)}</span></td>
      <td>{trend?.successRate !== null && trend?.successRate !== undefined ? `${Math.round(trend.successRate * 100)} %` : t('common.none')}</td>
      <td><Sparkline values={trend?.durations ?? []} label={`${t('col.durations')} ${task.name}`} /></td>
      <td>{task.source === 'kubernetes' ? t('source.kubernetes', { namespace: task.namespace ?? '' }) : t('source.api')}</td>
      <td class="labels">{Object.entries(task.labels).map(([k, v]) => <span class="chip" key={k}>{k}={v}</span>)}</td>
    </tr>
  );
}
