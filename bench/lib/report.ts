/** The JSON document and the printed tables. */
import type { MachineInfo } from './machine.ts';
import type { Spread } from './stats.ts';

export interface Row extends Spread {
  system: string;
  metric: string;
}

export interface ScenarioReport {
  name: string;
  /** what was measured and with which counts */
  description: string;
  rows: Row[];
  /** per system: the knobs it ran with */
  config: Record<string, Record<string, unknown>>;
  /** systems left out or failed, with the reason */
  notes: string[];
}

export interface BenchReport {
  machine: MachineInfo;
  config: { quick: boolean; repetitions: number };
  scenarios: ScenarioReport[];
}

const PEERS = ['bullmq', 'pg-boss', 'graphile-worker'];

function format(value: number): string {
  if (!Number.isFinite(value)) return '-';
  if (Math.abs(value) >= 100) return String(Math.round(value));
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/** metrics where less is better (latencies, memory, misses): their ratio reads the other way round */
export function lowerIsBetter(metric: string): boolean {
  return /_ms$|_mb$|_s$|missed|duplicates/.test(metric) && !/_per_s$/.test(metric);
}

/** The systems (columns), metrics (rows) and cell text of a scenario's table, for both renderings. */
function tableOf(report: ScenarioReport, repetitions: number) {
  const systems = [...new Set(report.rows.map((r) => r.system))];
  const metrics = [...new Set(report.rows.map((r) => r.metric))];
  const cell = (system: string, metric: string) => {
    const row = report.rows.find((r) => r.system === system && r.metric === metric);
    if (!row) return '';
    return repetitions > 1 ? `${format(row.median)} (${format(row.min)}-${format(row.max)})` : format(row.median);
  };
  return { systems, metrics, cell };
}

export function renderScenario(report: ScenarioReport, repetitions: number): string {
  const { systems, metrics, cell } = tableOf(report, repetitions);
  const header = ['metric', ...systems];
  const lines = [header, ...metrics.map((m) => [m, ...systems.map((s) => cell(s, m))])];
  const widths = header.map((_, i) => Math.max(...lines.map((l) => (l[i] ?? '').length)));
  const text = lines.map((l) => l.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  '));
  text.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  const ratios: string[] = [];
  for (const system of systems.filter((s) => s.startsWith('hourglass/'))) {
    for (const metric of metrics) {
      const ours = report.rows.find((r) => r.system === system && r.metric === metric);
      const parts = PEERS.flatMap((peer) => {
        const theirs = report.rows.find((r) => r.system === peer && r.metric === metric);
        if (!ours || !theirs || theirs.median === 0) return [];
        return [`${format(ours.median / theirs.median)}x ${peer}`];
      });
      if (parts.length > 0) ratios.push(`  ${system} ${metric}: ${parts.join(', ')}${lowerIsBetter(metric) ? '  (lower is better)' : ''}`);
    }
  }
  const title = `== ${report.name}: ${report.description} (median${repetitions > 1 ? ` (min-max) of ${repetitions}` : ' of 1'})`;
  return [title, ...text, ...(ratios.length > 0 ? ['ratio, ours / peer:', ...ratios] : []), ...report.notes.map((n) => `note: ${n}`), ''].join('\n');
}

/** The same table as markdown, for bench/README.md. */
export function renderMarkdown(report: ScenarioReport, repetitions: number): string {
  const { systems, metrics, cell } = tableOf(report, repetitions);
  const lines = [
    `**${report.name}**: ${report.description}`,
    '',
    `| metric | ${systems.join(' | ')} |`,
    `|---|${systems.map(() => '---:').join('|')}|`,
    ...metrics.map((m) => `| ${m} | ${systems.map((s) => cell(s, m)).join(' | ')} |`),
    ...report.notes.map((n) => `\n_${n}_`),
    '',
  ];
  return lines.join('\n');
}
