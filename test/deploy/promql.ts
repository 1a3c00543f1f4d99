import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { repoPath } from './support.ts';

/**
 * The metric names a PromQL expression selects. Not a full parser: it removes what cannot be a metric
 * name (strings, label matchers, ranges, grouping label lists, numbers) and keeps the identifiers that
 * are not functions, keywords or aggregation operators. promtool has parsed every expression already.
 */
const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\b\d+(\.\d+)?(e[+-]?\d+)?\b/gi, ' ');
  const names = new Set<string>();
  for (const match of stripped.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const word = match[0];
    const rest = stripped.slice((match.index ?? 0) + word.length);
    if (/^\s*\(/.test(rest)) continue; // a function or an aggregation: sum(, rate(, histogram_quantile(
    if (KEYWORDS.has(word.toLowerCase())) continue;
    names.add(word);
  }
  return [...names];
}

export interface UsedExpression {
  /** where it comes from: "alerts.yml HighTaskFailureRate", "dashboards/x.json panel 3 A" */
  where: string;
  expr: string;
}

export function alertExpressions(file = repoPath('monitoring', 'alerts.yml')): UsedExpression[] {
  const doc = parseYaml(readFileSync(file, 'utf8')) as { groups: Array<{ name: string; rules: Array<{ alert?: string; record?: string; expr: string }> }> };
  return doc.groups.flatMap((g) => g.rules.map((r) => ({ where: `alerts.yml ${g.name}/${r.alert ?? r.record}`, expr: String(r.expr) })));
}

export const DASHBOARD_DIR = repoPath('monitoring', 'grafana', 'dashboards');

export function dashboardFiles(): string[] {
  return readdirSync(DASHBOARD_DIR).filter((f) => f.endsWith('.json')).sort();
}

interface Panel {
  id?: number;
  title?: string;
  targets?: Array<{ refId?: string; expr?: string }>;
  panels?: Panel[];
}

export function dashboardExpressions(): UsedExpression[] {
  const out: UsedExpression[] = [];
  for (const file of dashboardFiles()) {
    const dashboard = JSON.parse(readFileSync(path.join(DASHBOARD_DIR, file), 'utf8')) as { panels?: Panel[] };
    const walk = (panels: Panel[] | undefined) => {
      for (const panel of panels ?? []) {
        for (const target of panel.targets ?? []) {
          if (target.expr) out.push({ where: `${file} "${panel.title}" ${target.refId}`, expr: target.expr });
        }
        walk(panel.panels);
      }
    };
    walk(dashboard.panels);
  }
  return out;
}

/** Sample names a /metrics text exposes: every family with a # TYPE line, with _bucket/_sum/_count for histograms and summaries. */
export function exposedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type) {
      const [, name, kind] = type as unknown as [string, string, string];
      names.add(name);
      if (kind === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(name + suffix);
      if (kind === 'summary') for (const suffix of ['_sum', '_count']) names.add(name + suffix);
      continue;
    }
    const sample = /^([A-Za-z_:][A-Za-z0-9_:]*)[{ ]/.exec(line);
    if (sample) names.add(sample[1] as string);
  }
  return names;
}
