import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The runnable code blocks of the README and docs/*.md: a ```bash fence right after the marker line
 * `<!-- runnable -->`, or `<!-- runnable expect="TEXT" -->` when the output must contain TEXT.
 * Blocks run in document order against one server, README first, then docs/ alphabetically.
 */
export interface RunnableBlock {
  file: string;
  /** 1-based line of the marker */
  line: number;
  code: string;
  expect?: string;
}

const MARKER = /^<!--\s*runnable(?:\s+expect="([^"]*)")?\s*-->\s*$/;

export function runnableBlocks(repoRoot: string): RunnableBlock[] {
  const docs = readdirSync(path.join(repoRoot, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => path.join('docs', f));
  return ['README.md', ...docs].flatMap((file) => blocksOf(file, readFileSync(path.join(repoRoot, file), 'utf8')));
}

export function blocksOf(file: string, text: string): RunnableBlock[] {
  const lines = text.split('\n');
  const out: RunnableBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const marker = MARKER.exec(lines[i] ?? '');
    if (!marker) continue;
    if (!/^```(bash|sh)\s*$/.test(lines[i + 1] ?? '')) throw new Error(`${file}:${i + 1}: a runnable marker must be followed by a \`\`\`bash block`);
    const end = lines.findIndex((l, j) => j > i + 1 && /^```\s*$/.test(l));
    if (end < 0) throw new Error(`${file}:${i + 1}: the runnable block is never closed`);
    out.push({ file, line: i + 1, code: lines.slice(i + 2, end).join('\n'), ...(marker[1] !== undefined ? { expect: marker[1] } : {}) });
    i = end;
  }
  return out;
}
