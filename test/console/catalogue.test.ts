import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { en } from '../../console/src/i18n/en.ts';
import { zh } from '../../console/src/i18n/zh.ts';
import { REPO_ROOT } from '../support/processes.ts';

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return /\.tsx?$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [full] : [];
  });
}

describe('console message catalogues', () => {
  it('English and Simplified Chinese have the same keys, none empty', () => {
    assert.deepEqual(Object.keys(zh).sort(), Object.keys(en).sort());
    for (const [key, text] of [...Object.entries(en), ...Object.entries(zh)]) assert.ok(text.trim().length > 0, key);
  });

  it('keeps the same placeholders in both languages', () => {
    const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    for (const key of Object.keys(en) as Array<keyof typeof en>) assert.deepEqual(placeholders(zh[key]), placeholders(en[key]), key);
  });

  it('translates: the Chinese catalogue is not a copy of the English one', () => {
    // the product's name is the same in both
    const same = (Object.keys(en) as Array<keyof typeof en>).filter((key) => key !== 'app.title' && en[key] === zh[key] && /[a-z]{4}/.test(en[key]));
    assert.deepEqual(same, [], 'English text left in zh.ts');
  });

  it('every key the views use exists, and every key is used', () => {
    const sources = sourceFiles(path.join(REPO_ROOT, 'console', 'src')).filter((file) => !file.includes(`${path.sep}i18n${path.sep}`)).map((file) => readFileSync(file, 'utf8')).join('\n');
    const used = new Set([...sources.matchAll(/\bt\(\s*'([\w.]+)'/g)].map((m) => m[1] as string));
    for (const key of used) assert.ok(key in en, `t('${key}') has no message`);
    // keys built at run time: status.<status>, health.<health>
    const dynamic = /^(status|health)\./;
    const unused = Object.keys(en).filter((key) => !used.has(key) && !dynamic.test(key) && !sources.includes(`'${key}'`));
    assert.deepEqual(unused, [], 'messages no view shows');
  });
});
