import { badRequest } from './errors.ts';
import type { KubeObject } from './types.ts';

/** Label selectors (`a=b,c!=d,e in (x,y),f notin (z),g,!h`) and field selectors (`a=b,c!=d`). */

type LabelRequirement =
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'exists' | 'doesnotexist' };

export type Matcher = (object: KubeObject) => boolean;

function splitTopLevel(selector: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const char of selector) {
    if (char === '(') depth++;
    if (char === ')') depth--;
    if (char === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else {
      current += char;
    }
  }
  parts.push(current);
  return parts.map((part) => part.trim()).filter((part) => part.length > 0);
}

function parseLabelRequirement(text: string): LabelRequirement {
  let match = /^([^\s!=()]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(text);
  if (match) {
    const values = (match[3] as string).split(',').map((value) => value.trim()).filter((value) => value !== '');
    return { key: match[1] as string, op: match[2] as 'in' | 'notin', values };
  }
  match = /^([^\s!=()]+)\s*(==|=|!=)\s*([^\s!=(),]*)$/.exec(text);
  if (match) {
    const op = match[2] === '!=' ? 'notin' : 'in';
    return { key: match[1] as string, op, values: [match[3] as string] };
  }
  match = /^(!?)\s*([^\s!=()]+)$/.exec(text);
  if (match) return { key: match[2] as string, op: match[1] ? 'doesnotexist' : 'exists' };
  throw badRequest(`unable to parse requirement: found '${text}', expected: label selector`);
}

export function parseLabelSelector(selector: string | null): Matcher {
  if (!selector) return () => true;
  const requirements = splitTopLevel(selector).map(parseLabelRequirement);
  return (object) => {
    const labels = object.metadata.labels ?? {};
    return requirements.every((requirement) => {
      const value = labels[requirement.key];
      switch (requirement.op) {
        case 'exists': return value !== undefined;
        case 'doesnotexist': return value === undefined;
        case 'in': return value !== undefined && requirement.values.includes(value);
        case 'notin': return value === undefined || !requirement.values.includes(value);
      }
    });
  };
}

function valueAt(object: unknown, path: string): string {
  let current: unknown = object;
  for (const segment of path.split('.')) {
    if (current === null || typeof current !== 'object') return '';
    current = (current as Record<string, unknown>)[segment];
  }
  if (current === undefined || current === null) return '';
  return String(current);
}

/**
 * `selectable` maps the field labels a kind supports (beyond metadata.name/namespace) to object paths;
 * any other label is refused with the real server's message.
 */
export function parseFieldSelector(selector: string | null, selectable: Record<string, string>): Matcher {
  if (!selector) return () => true;
  const requirements = splitTopLevel(selector).map((text) => {
    const match = /^([^!=]+?)\s*(==|=|!=)\s*(.*)$/.exec(text);
    if (!match) throw badRequest(`invalid selector: '${selector}'; can't understand '${text}'`);
    const field = match[1] as string;
    const path = field === 'metadata.name' || field === 'metadata.namespace' ? field : selectable[field];
    if (!path) throw badRequest(`field label not supported: ${field}`);
    return { path, negate: match[2] === '!=', value: match[3] as string };
  });
  return (object) => requirements.every(({ path, negate, value }) => (valueAt(object, path) === value) !== negate);
}
