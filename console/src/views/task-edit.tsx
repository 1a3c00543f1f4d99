import { useState } from 'preact/hooks';
import { parse, stringify } from 'yaml';
import { api, ApiError, type Task } from '../api/client.ts';
import { t, type MessageKey } from '../i18n/index.ts';
import { ErrorBox } from '../lib/components.tsx';

/** The fields a task is written with (what PUT takes back): no id, status or timestamps. */
export function writableSpec(task: Task): Record<string, unknown> {
  const { id: _id, namespace: _ns, source: _source, generation: _g, createdAt: _c, updatedAt: _u, nextScheduleTime: _n, lastRun: _l, ...spec } = task;
  return spec;
}

export function specYaml(task: Task): string {
  return stringify(writableSpec(task));
}

interface Field {
  name: string;
  /** the API's path of the field in a problem+json `errors` entry */
  path: string;
  label: MessageKey;
  type?: 'number';
  get(task: Task): string;
  patch(value: string): Record<string, unknown>;
}

const FIELDS: Field[] = [
  { name: 'schedule', path: 'schedule', label: 'field.schedule', get: (task) => task.schedule ?? '', patch: (v) => ({ schedule: v.trim() === '' ? null : v.trim() }) },
  { name: 'timeZone', path: 'timeZone', label: 'field.timeZone', get: (task) => task.timeZone, patch: (v) => ({ timeZone: v.trim() }) },
  { name: 'timeoutSeconds', path: 'timeoutSeconds', label: 'field.timeoutSeconds', type: 'number', get: (task) => String(task.timeoutSeconds), patch: (v) => ({ timeoutSeconds: v.trim() === '' ? null : Number(v) }) },
  { name: 'pool', path: 'pool', label: 'field.pool', get: (task) => task.pool, patch: (v) => ({ pool: v.trim() }) },
];
const COMMAND: Field = { name: 'command', path: 'shell.command', label: 'field.command', get: (task) => JSON.stringify(task.shell?.command ?? []), patch: (v) => ({ shell: { command: parseCommand(v) } }) };
const URL_FIELD: Field = { name: 'url', path: 'http.url', label: 'field.url', get: (task) => task.http?.url ?? '', patch: (v) => ({ http: { url: v.trim() } }) };

/** A JSON array of arguments, or a shell line (run with sh -c). */
function parseCommand(value: string): string[] {
  const trimmed = value.trim();
  if (trimmed.startsWith('[')) {
    try {
      return JSON.parse(trimmed) as string[];
    } catch {
      return [trimmed];
    }
  }
  return ['sh', '-c', trimmed];
}

/** Edits the common fields with a merge patch; each field shows the API's own error for it. */
export function TaskForm({ task, onSaved, onCancel }: { task: Task; onSaved: (task: Task) => void; onCancel: () => void }) {
  const fields = [...FIELDS, ...(task.type === 'shell' ? [COMMAND] : task.type === 'http' ? [URL_FIELD] : [])];
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [failure, setFailure] = useState<unknown>();
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    let patch: Record<string, unknown> = {};
    for (const field of fields) {
      const value = String(form.get(field.name) ?? '');
      if (value !== field.get(task)) patch = { ...patch, ...field.patch(value) };
    }
    try {
      onSaved(await api.patch('/api/tasks/{id}', { params: { id: task.id }, body: patch }));
    } catch (caught) {
      const byField: Record<string, string> = {};
      if (caught instanceof ApiError) {
        for (const problem of caught.fieldErrors) {
          const field = fields.find((f) => problem.path === f.path || problem.path.startsWith(`${f.path}.`) || problem.path.startsWith(`${f.path}[`));
          if (field) byField[field.name] = problem.message;
        }
      }
      setErrors(byField);
      setFailure(Object.keys(byField).length > 0 ? undefined : caught);
    }
  };
  return (
    <form class="spec-form" onSubmit={submit} noValidate>
      {fields.map((field) => (
        <div class="field" key={field.name}>
          <label for={`field-${field.name}`}>{t(field.label)}</label>
          <input
            id={`field-${field.name}`}
            name={field.name}
            type="text"
            inputMode={field.type === 'number' ? 'numeric' : undefined}
            defaultValue={field.get(task)}
            aria-invalid={errors[field.name] ? 'true' : undefined}
            aria-describedby={errors[field.name] ? `error-${field.name}` : undefined}
          />
          {errors[field.name] && <p class="field-error" id={`error-${field.name}`}>{errors[field.name]}</p>}
        </div>
      ))}
      <ErrorBox error={failure} />
      <div class="buttons">
        <button type="button" onClick={onCancel}>{t('common.cancel')}</button>
        <button type="submit" class="primary">{t('common.save')}</button>
      </div>
    </form>
  );
}

/** The whole spec as YAML, written back with PUT (what `scheduler-cli apply` does). */
export function TaskYamlEditor({ task, onSaved, onCancel }: { task: Task; onSaved: (task: Task) => void; onCancel: () => void }) {
  const [text, setText] = useState(specYaml(task));
  const [failure, setFailure] = useState<unknown>();
  const [problems, setProblems] = useState<Array<{ path: string; message: string }>>([]);
  const submit = async (event: Event) => {
    event.preventDefault();
    try {
      const body = parse(text) as Record<string, unknown>;
      onSaved(await api.put('/api/tasks/{id}', { params: { id: task.id }, body }));
    } catch (caught) {
      setProblems(caught instanceof ApiError ? caught.fieldErrors : []);
      setFailure(caught);
    }
  };
  return (
    <form onSubmit={submit}>
      <label for="spec-yaml">{t('task.yaml')}</label>
      <textarea id="spec-yaml" rows={16} value={text} onInput={(e) => setText((e.currentTarget as HTMLTextAreaElement).value)} spellcheck={false} />
      <ErrorBox error={failure} />
      {problems.length > 0 && <ul class="field-error">{problems.map((p) => <li key={p.path}><code>{p.path}</code>: {p.message}</li>)}</ul>}
      <div class="buttons">
        <button type="button" onClick={onCancel}>{t('common.cancel')}</button>
        <button type="submit" class="primary">{t('common.save')}</button>
      </div>
    </form>
  );
}
