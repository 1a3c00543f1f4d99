import { stringify as toYaml } from 'yaml';

export const FORMATS = ['table', 'json', 'yaml'] as const;
export type Format = (typeof FORMATS)[number];

type Row = Record<string, unknown>;

/** A table column: a field of the row, or a computed cell under its own header. */
export type Column = string | { header: string; value: (row: Row) => unknown };

/** Everything scheduler-cli prints goes through here, so -o json|yaml is the same for every command. */
export interface Output {
  readonly format: Format;
  /** a list: a table for people, the array itself for -o json|yaml */
  list(rows: unknown[], columns: Column[]): void;
  /** one object: `key: value` lines for people, the object for -o json|yaml */
  item(value: unknown, fields?: string[]): void;
  /** a sentence for people; with -o json|yaml, `data` is printed instead (when given) */
  message(text: string, data?: unknown): void;
  /** free text printed as-is in every format (logs) */
  raw(text: string): void;
}

export function createOutput(format: Format, write: (text: string) => void = (t) => process.stdout.write(t)): Output {
  const structured = (value: unknown) => write(format === 'json' ? `${JSON.stringify(value, null, 2)}\n` : toYaml(value ?? null));
  return {
    format,
    list(rows, columns) {
      if (format !== 'table') return structured(rows);
      if (rows.length === 0) return write('No resources found.\n');
      write(renderTable(rows as Row[], columns));
    },
    item(value, fields) {
      if (format !== 'table') return structured(value);
      write(renderFields(value as Row, fields));
    },
    message(text, data) {
      if (format === 'table' || data === undefined) write(`${text}\n`);
      else structured(data);
    },
    raw(text) {
      write(text);
    },
  };
}

export function cellText(value: unknown): string {
  if (value === null || value === undefined || value === '') return '-';
  // nested values read as "a, b" and "key=value, key=value" rather than JSON punctuation
  if (Array.isArray(value)) return value.length === 0 ? '-' : value.map(cellText).join(', ');
  if (typeof value === 'object') {
    const entries = Object.entries(value as Row).filter(([, v]) => v !== undefined);
    return entries.length === 0 ? '-' : entries.map(([k, v]) => `${k}=${cellText(v)}`).join(', ');
  }
  return String(value).replace(/\s*\n\s*/g, ' ');
}

const header = (column: Column) => (typeof column === 'string' ? column.toUpperCase() : column.header);
const valueOf = (row: Row, column: Column) => (typeof column === 'string' ? row[column] : column.value(row));
const MAX_CELL = 60;

export function renderTable(rows: Row[], columns: Column[]): string {
  const cells = rows.map((row) => columns.map((c) => clip(cellText(valueOf(row, c)))));
  const widths = columns.map((c, i) => Math.max(header(c).length, ...cells.map((r) => (r[i] as string).length)));
  const line = (parts: string[]) => parts.map((p, i) => p.padEnd(widths[i] as number)).join('  ').trimEnd();
  return `${[line(columns.map(header)), ...cells.map(line)].join('\n')}\n`;
}

function clip(text: string): string {
  return text.length > MAX_CELL ? `${text.slice(0, MAX_CELL - 1)}…` : text;
}

function renderFields(value: Row, fields?: string[]): string {
  const keys = fields ?? Object.keys(value);
  const width = Math.max(...keys.map((k) => k.length)) + 1;
  return keys
    .filter((k) => value[k] !== undefined)
    .map((k) => `${`${k}:`.padEnd(width)}${fieldText(value[k])}`)
    .join('\n')
    .concat('\n');
}

/** A scalar after its key; a non-empty object or list as indented YAML lines beneath it. */
function fieldText(value: unknown): string {
  const nested = typeof value === 'object' && value !== null && Object.keys(value).length > 0;
  if (!nested) return `  ${cellText(value)}`;
  return `\n${toYaml(value).trimEnd().split('\n').map((line) => `  ${line}`).join('\n')}`;
}

/** "2026-11-24T00:00:00.000Z" → a short age such as "5m" or "3d" (for tables). */
export function age(iso: unknown, now = Date.now()): string {
  if (typeof iso !== 'string') return '-';
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (!Number.isFinite(seconds)) return '-';
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)}h`;
  return `${Math.round(seconds / 86_400)}d`;
}

export function bytes(n: unknown): string {
  const value = Number(n);
  if (!Number.isFinite(value)) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let size = value;
  let unit = 0;
  while (size >= 1024 && unit < units.length - 1) {
    size /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? size : size.toFixed(1)} ${units[unit]}`;
}
