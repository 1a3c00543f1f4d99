import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderCrds } from '../operator/crds.ts';

// Regenerates crds/*.yaml from the zod schemas in core/model; test/kube/crds.test.ts fails when they drift.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
for (const [file, text] of Object.entries(renderCrds())) {
  writeFileSync(path.join(root, 'crds', file), text);
  process.stdout.write(`wrote crds/${file}\n`);
}
