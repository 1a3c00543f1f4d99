import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { isNode, LineCounter, parseAllDocuments, type Document } from 'yaml';
import { parseManifest, ValidationError, type Manifest } from '../core/model/index.ts';
import { CliError } from './exit-codes.ts';

const MANIFEST_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

/** One YAML document of one file, with what is needed to point at its lines. */
export interface SourceDocument {
  /** the file as the user named it, or "<stdin>" */
  file: string;
  /** 1-based position of the document in its file */
  index: number;
  value: unknown;
  doc: Document;
  lines: LineCounter;
}

export interface LocatedManifest {
  source: SourceDocument;
  manifest: Manifest;
}

/** The files behind `-f`: a file, every .yaml/.yml/.json in a folder (sorted; deeper with `recursive`), or stdin. */
export function readInputs(paths: string[], options: { recursive?: boolean; stdin?: () => string } = {}): Array<{ file: string; text: string }> {
  const out: Array<{ file: string; text: string }> = [];
  for (const given of paths) {
    if (given === '-') {
      out.push({ file: '<stdin>', text: options.stdin ? options.stdin() : readFileSync(0, 'utf8') });
      continue;
    }
    let stat;
    try {
      stat = statSync(given);
    } catch {
      throw new CliError(`${given}: no such file or directory`);
    }
    if (stat.isDirectory()) out.push(...readFolder(given, options.recursive ?? false));
    else out.push({ file: given, text: readFileSync(given, 'utf8') });
  }
  return out;
}

function readFolder(folder: string, recursive: boolean): Array<{ file: string; text: string }> {
  const out: Array<{ file: string; text: string }> = [];
  for (const entry of readdirSync(folder, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const full = path.join(folder, entry.name);
    if (entry.isDirectory()) {
      if (recursive) out.push(...readFolder(full, recursive));
    } else if (MANIFEST_EXTENSIONS.has(path.extname(entry.name))) {
      out.push({ file: full, text: readFileSync(full, 'utf8') });
    }
  }
  return out;
}

/** Every non-empty document of a file; YAML syntax errors are reported as file:line:column. */
export function parseDocuments(file: string, text: string): SourceDocument[] {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false });
  if (!Array.isArray(docs)) return []; // an empty stream
  const problems: string[] = [];
  const out: SourceDocument[] = [];
  docs.forEach((doc, i) => {
    for (const error of doc.errors) {
      const at = lines.linePos(error.pos[0]);
      problems.push(`${file}:${at.line}:${at.col}: ${error.message.split('\n')[0]}`);
    }
    if (doc.errors.length > 0 || doc.contents === null) return;
    out.push({ file, index: i + 1, value: doc.toJS() as unknown, doc, lines });
  });
  if (problems.length > 0) throw new CliError(`invalid YAML:\n  ${problems.join('\n  ')}`);
  return out;
}

/** "spec.shell.command[0]" → ["spec", "shell", "command", 0] */
function segments(fieldPath: string): Array<string | number> {
  const out: Array<string | number> = [];
  for (const part of fieldPath.split('.')) {
    const match = /^([^[]*)((?:\[\d+\])*)$/.exec(part);
    if (!match) {
      out.push(part);
      continue;
    }
    if (match[1]) out.push(match[1]);
    for (const index of (match[2] ?? '').matchAll(/\[(\d+)\]/g)) out.push(Number(index[1]));
  }
  return out;
}

/**
 * "file:line:col" of a field, or of its nearest parent present in the document (a missing field is
 * reported where it should have been written).
 */
export function locate(source: SourceDocument, fieldPath: string): string {
  const keys = fieldPath ? segments(fieldPath) : [];
  for (let n = keys.length; n >= 0; n -= 1) {
    const node = n === 0 ? source.doc.contents : source.doc.getIn(keys.slice(0, n), true);
    if (isNode(node) && node.range) {
      // point at the key of a mapping entry when there is one: that is the line people look for
      const at = source.lines.linePos(keyOffset(source, keys.slice(0, n)) ?? node.range[0]);
      return `${source.file}:${at.line}:${at.col}`;
    }
  }
  return source.file;
}

function keyOffset(source: SourceDocument, keys: Array<string | number>): number | undefined {
  if (keys.length === 0) return undefined;
  const parent = keys.length === 1 ? source.doc.contents : source.doc.getIn(keys.slice(0, -1), true);
  const last = keys[keys.length - 1];
  const items = (parent as { items?: Array<{ key?: unknown }> } | null)?.items;
  if (!Array.isArray(items) || typeof last !== 'string') return undefined;
  const pair = items.find((item) => isNode(item.key) && (item.key as { value?: unknown }).value === last);
  return pair && isNode(pair.key) ? pair.key.range?.[0] : undefined;
}

/**
 * Reads and validates ScheduledTask and WorkerPool manifests, exactly as the operator parses them. Every
 * problem of every document is reported at once, each as `file:line:col: field: message`.
 */
export function loadManifests(inputs: Array<{ file: string; text: string }>): LocatedManifest[] {
  const problems: string[] = [];
  const out: LocatedManifest[] = [];
  for (const { file, text } of inputs) {
    let documents: SourceDocument[];
    try {
      documents = parseDocuments(file, text);
    } catch (error) {
      problems.push((error as Error).message.replace(/^invalid YAML:\n {2}/, ''));
      continue;
    }
    for (const source of documents) {
      try {
        out.push({ source, manifest: parseManifest(source.value) });
      } catch (error) {
        if (!(error instanceof ValidationError)) throw error;
        for (const p of error.problems) problems.push(`${locate(source, p.path)}: ${p.path || '(document)'}: ${p.message}`);
      }
    }
  }
  if (problems.length > 0) throw new CliError(`invalid manifest:\n  ${problems.join('\n  ')}`);
  if (out.length === 0) throw new CliError('no ScheduledTask or WorkerPool documents found');
  return out;
}
