import type { z } from 'zod';
import { NO_EFFECT_KEYS } from './no-effect.ts';
import { ConfigSchema } from './schema.ts';
import { defaultOf, tableShape } from './keys.ts';

/**
 * Renders config/base.toml from the schema: every key, commented out, with its description and
 * default. The defaults live only in the schema; base.toml documents them and is kept identical to
 * this output by a test (regenerate with the command in its header).
 */

const HEADER = `# Hourglass base configuration: every key, with its default, commented out.
#
# GENERATED from core/config/schema.ts; do not edit by hand. Regenerate with:
#   node -e "import('./core/config/reference.ts').then(m => process.stdout.write(m.renderBaseToml()))" > config/base.toml
#
# Load order (later wins; tables merge key by key, arrays replace):
#   config/base.toml -> config/auth.toml -> config/security.toml -> config/timeouts.toml
#   -> config/$ENVIRONMENT.toml (default development) -> each --config FILE -> environment variables.
# Inside any string: \${VAR} (an error only if the key survives into the final config while VAR is
# unset), \${VAR:-default} (default when VAR is unset or empty), $\${ for a literal \${.
# Numbers and booleans may be written as strings ("\${DB_MAX:-20}"); they are converted.
# Unknown keys are refused with the nearest valid key.
#
# Top-level aliases from the seed guide (applied in the file that sets them):
#   database_url = "\${DATABASE_URL:-postgresql://localhost:5432/scheduler}"   # same as [database] url
#   worker_id = "\${WORKER_ID:-default-worker-001}"                           # same as [worker] worker_id
# The top-level key \`environment\` is set from ENVIRONMENT; files cannot change it.
`;

function tomlValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(tomlValue).join(', ')}]`;
  return String(v);
}

const noEffect = new Map(NO_EFFECT_KEYS.map((k) => [k.key, k.reason]));

function renderTable(name: string, schema: z.ZodType, lines: string[]): void {
  const shape = tableShape(schema);
  if (!shape) return;
  lines.push('', `# ${schema.description ?? ''}`.trimEnd(), `[${name}]`);
  const subtables: [string, z.ZodType][] = [];
  for (const [key, child] of Object.entries(shape.keys)) {
    if (tableShape(child)) {
      subtables.push([key, child]);
      continue;
    }
    const dotted = `${name}.${key}`;
    const d = defaultOf(child);
    const reason = noEffect.get(dotted);
    lines.push(`# ${child.description ?? ''}`.trimEnd());
    if (reason) lines.push(`#   No effect in Hourglass: ${reason}.`);
    lines.push(`# ${key} = ${d.has ? tomlValue(d.value) : '(not set)'}`);
  }
  for (const [key, child] of subtables) renderTable(`${name}.${key}`, child, lines);
}

export function renderBaseToml(): string {
  const lines = [HEADER.trimEnd()];
  const top = tableShape(ConfigSchema);
  for (const [key, child] of Object.entries(top?.keys ?? {})) renderTable(key, child, lines);
  return `${lines.join('\n')}\n`;
}
