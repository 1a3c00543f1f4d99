import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The `config/` folder next to the package root, from source (core/config/paths.ts) or from the
 * build (dist/core/config/paths.js): walk up until a directory holds package.json.
 */
export function defaultConfigDir(from: string = import.meta.url): string {
  let dir = path.dirname(from.startsWith('file:') ? fileURLToPath(from) : from);
  for (;;) {
    if (existsSync(path.join(dir, 'package.json'))) return path.join(dir, 'config');
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${from}; pass configDir explicitly`);
    dir = parent;
  }
}

/** How a file is named in messages: relative to the working directory when inside it. */
export function fileLabel(file: string, cwd: string = process.cwd()): string {
  const rel = path.relative(cwd, file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}
