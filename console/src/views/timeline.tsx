import { api, type Run, type Task } from '../api/client.ts';
import { t } from '../i18n/index.ts';
import { ErrorBox } from '../lib/components.tsx';
import { dateTime } from '../lib/format.ts';
import { firesBetween } from '../lib/fires.ts';
import { query, setQuery } from '../lib/router.ts';
import { useFetch } from '../lib/use-fetch.ts';

const WINDOWS: Record<string, number> = { '6h': 6, '24h': 24, '3d': 72, '7d': 168 };
const ROW = 22;
const LABEL = 180;
const WIDTH = 1000;
const MAX_ROWS = 60;

interface Row {
  taskId: string;
  name: string;
  runs: Run[];
  fires: number[];
}

/**
 * Every schedule on one time axis: past runs coloured by outcome, upcoming fires hollow, so load peaks
 * and overlaps show at a glance. The past covers the window, the future a quarter of it.
 */
export function TimelineView() {
  const windowKey = query().get('window') ?? '24h';
  const hours = WINDOWS[windowKey] ?? 24;
  const { data, error } = useFetch(async () => {
    const nowMs = Date.now();
    const from = nowMs - hours * 3_600_000;
    const to = nowMs + (hours * 3_600_000) / 4;
    const [runs, tasks] = await Promise.all([
      api.get('/api/task-runs', { query: { from: new Date(from).toISOString(), limit: 500 } }),
      api.get('/api/tasks', { query: { limit: MAX_ROWS, suspended: 'false' } }),
    ]);
    return { nowMs, from, to, runs: runs.items, tasks: tasks.items };
  }, [hours], 30_000);

  const rows: Row[] = [];
  if (data) {
    const byTask = new Map<string, Row>();
    const rowOf = (id: string, name: string) => {
      let row = byTask.get(id);
      if (!row) {
        row = { taskId: id, name, runs: [], fires: [] };
        byTask.set(id, row);
      }
      return row;
    };
    for (const task of data.tasks as Task[]) {
      const fires = task.schedule ? firesBetween(task.schedule, task.timeZone, data.nowMs, data.to) : [];
      if (fires.length > 0) rowOf(task.id, task.name).fires = fires;
    }
    for (const run of data.runs) rowOf(run.taskId, run.taskName).runs.push(run);
    rows.push(...[...byTask.values()].sort((a, b) => a.name.localeCompare(b.name)).slice(0, MAX_ROWS));
  }
  const x = (ms: number) => (data ? LABEL + ((ms - data.from) / (data.to - data.from)) * (WIDTH - LABEL - 10) : 0);
  const height = rows.length * ROW + 30;
  return (
    <section aria-labelledby="view-title">
      <h1 id="view-title">{t('timeline.title')}</h1>
      <div class="filters">
        <label>
          {t('timeline.window')}
          <select value={windowKey} onChange={(e) => setQuery({ window: (e.currentTarget as HTMLSelectElement).value }, { replace: true })}>
            {Object.entries(WINDOWS).map(([key, h]) => <option key={key} value={key}>{h < 48 ? t('timeline.hours', { count: h }) : t('timeline.days', { count: h / 24 })}</option>)}
          </select>
        </label>
      </div>
      <p>{t('timeline.legend')}</p>
      <ErrorBox error={error} />
      {!data && !error && <p>{t('common.loading')}</p>}
      {data && rows.length === 0 && <p>{t('timeline.empty')}</p>}
      {data && rows.length > 0 && (
        <div class="table-wrap">
          <svg class="timeline" width={WIDTH} height={height} viewBox={`0 0 ${WIDTH} ${height}`} role="group" aria-label={`${t('timeline.title')}: ${dateTime(new Date(data.from).toISOString())} – ${dateTime(new Date(data.to).toISOString())}`}>
            <line x1={x(data.nowMs)} x2={x(data.nowMs)} y1={0} y2={height} class="now" />
            <text x={x(data.from)} y={height - 8} class="axis">{dateTime(new Date(data.from).toISOString())}</text>
            <text x={x(data.nowMs)} y={height - 8} class="axis" text-anchor="middle">{t('common.now')}</text>
            {rows.map((row, i) => (
              <g key={row.taskId} transform={`translate(0 ${i * ROW})`}>
                <a href={`/tasks/${row.taskId}`}><text x={4} y={15} class="row-label">{row.name.slice(0, 24)}</text></a>
                {row.runs.map((run) => (
                  <circle key={run.id} cx={x(Date.parse(run.scheduledTime))} cy={11} r={4} class={`mark status-${run.status}`}>
                    <title>{`${row.name} ${t(`status.${run.status}`)} ${dateTime(run.scheduledTime)}`}</title>
                  </circle>
                ))}
                {row.fires.map((fire) => (
                  <circle key={fire} cx={x(fire)} cy={11} r={4} class="mark upcoming">
                    <title>{`${row.name} ${dateTime(new Date(fire).toISOString())}`}</title>
                  </circle>
                ))}
              </g>
            ))}
          </svg>
        </div>
      )}
    </section>
  );
}
