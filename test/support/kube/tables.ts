import { evaluateJsonPath } from './jsonpath.ts';
import type { PrinterColumn, ServedVersion } from './resource-type.ts';
import type { KubeObject } from './types.ts';

/**
 * `Table` responses (Accept: application/json;as=Table;v=v1;g=meta.k8s.io), which is what `kubectl get`
 * prints: a Name column, then the printer columns (a CRD's additionalPrinterColumns, or built-in ones).
 */

export type IncludeObject = 'None' | 'Object' | 'PartialObjectMetadata';

const NAME_COLUMN = {
  name: 'Name',
  type: 'string',
  format: 'name',
  description: 'Name must be unique within a namespace. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names',
  priority: 0,
};

export function wantsTable(accept: string | undefined): boolean {
  return accept !== undefined && /as=Table/.test(accept) && /g=meta\.k8s\.io/.test(accept);
}

/** Same thresholds as apimachinery's duration.HumanDuration, so AGE reads like a real cluster's. */
export function humanDuration(milliseconds: number): string {
  const seconds = Math.floor(milliseconds / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  const withRest = (big: number, unit: string, rest: number, restUnit: string) => (rest === 0 ? `${big}${unit}` : `${big}${unit}${rest}${restUnit}`);
  if (minutes < 10) return withRest(minutes, 'm', seconds % 60, 's');
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return withRest(hours, 'h', minutes % 60, 'm');
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (hours < 24 * 8) return withRest(days, 'd', hours % 24, 'h');
  if (days < 365 * 2) return `${days}d`;
  const years = Math.floor(days / 365);
  if (days < 365 * 8) return withRest(years, 'y', days % 365, 'd');
  return `${years}y`;
}

function cell(object: KubeObject, column: PrinterColumn, now: number): unknown {
  const values = evaluateJsonPath(object, column.jsonPath);
  if (values.length === 0) return null;
  if (column.type === 'date') {
    const time = Date.parse(String(values[0]));
    return Number.isNaN(time) ? String(values[0]) : humanDuration(now - time);
  }
  if (values.length === 1) {
    const value = values[0];
    if (column.type === 'string' && typeof value === 'object' && value !== null) return JSON.stringify(value);
    if (column.type === 'string' && typeof value !== 'string') return String(value);
    return value;
  }
  return values.map((value) => (typeof value === 'object' ? JSON.stringify(value) : String(value))).join(',');
}

function rowObject(object: KubeObject, include: IncludeObject): object | undefined {
  if (include === 'None') return undefined;
  if (include === 'Object') return object;
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: object.metadata };
}

export interface TableOptions {
  version: ServedVersion;
  include: IncludeObject;
  listMeta?: { resourceVersion: string; continue?: string; remainingItemCount?: number };
}

export function renderTable(objects: KubeObject[], options: TableOptions): object {
  const now = Date.now();
  const columns = options.version.printerColumns;
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: options.listMeta ?? {},
    columnDefinitions: [
      NAME_COLUMN,
      ...columns.map((column) => ({
        name: column.name,
        type: column.type,
        format: column.format ?? '',
        description: column.description ?? '',
        priority: column.priority ?? 0,
      })),
    ],
    rows: objects.map((object) => {
      const included = rowObject(object, options.include);
      return {
        cells: [object.metadata.name ?? '', ...columns.map((column) => cell(object, column, now))],
        ...(included ? { object: included } : {}),
      };
    }),
  };
}
