import { Cron, CronPattern } from 'croner';
import { invalidSchedule } from './errors.ts';

/** A cron expression split into what next() needs: time-of-day tables and a day matcher. */
export interface CronParts {
  /** next matching value >= index, or -1; indexes 0..59 / 0..59 / 0..23 */
  readonly nextSecond: Int8Array;
  readonly nextMinute: Int8Array;
  readonly nextHour: Int8Array;
  /**
   * true when the hour field is `*` or a step: the schedule follows real time through DST
   * changes; otherwise it is a fixed-hour schedule that fires once per local day (Debian cron).
   */
  readonly followsRealTime: boolean;
  /** croner, in UTC, on "0 0 0 dom month dow [year]": finds matching days (L, W, #, + included) */
  readonly days: Cron;
  /**
   * the same test without croner when no L, W, #, + or year is used: croner's day search costs
   * ~15 us, too slow when 100,000 daily schedules each move to their next day
   */
  readonly simpleDays: SimpleDays | undefined;
}

export interface SimpleDays {
  /** flags indexed by day-of-month - 1, month - 1, day-of-week (0 = Sunday) */
  readonly dayOfMonth: Uint8Array;
  readonly month: Uint8Array;
  readonly dayOfWeek: Uint8Array;
  /** Vixie cron: when both day fields are restricted a day matching either one fires */
  readonly either: boolean;
  readonly anyDayOfMonth: boolean;
  readonly anyDayOfWeek: boolean;
}

const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

interface FieldSpec {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  /** letters a field may hold besides digits: month and weekday names, L, W */
  readonly words: RegExp;
}

const MONTHS = 'JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC';
const WEEKDAYS = 'SUN|MON|TUE|WED|THU|FRI|SAT';
const FIELDS: readonly FieldSpec[] = [
  { name: 'second', min: 0, max: 59, words: /^$/ },
  { name: 'minute', min: 0, max: 59, words: /^$/ },
  { name: 'hour', min: 0, max: 23, words: /^$/ },
  { name: 'day-of-month', min: 1, max: 31, words: /^(?:L|W|LW)$/ },
  { name: 'month', min: 1, max: 12, words: new RegExp(`^(?:${MONTHS})$`) },
  { name: 'day-of-week', min: 0, max: 7, words: new RegExp(`^(?:${WEEKDAYS}|L)$`) },
  { name: 'year', min: 1, max: 9999, words: /^$/ },
];

/** Expands macros and returns the 6 or 7 fields (seconds first), or throws naming the problem. */
export function splitFields(expression: string): string[] {
  const trimmed = expression.trim();
  if (trimmed.startsWith('@')) {
    const macro = trimmed.toLowerCase();
    if (macro === '@reboot') {
      throw invalidSchedule(expression, '@reboot is not supported: a scheduler has no boot to run at; use a manual trigger');
    }
    const expanded = MACROS[macro];
    if (expanded === undefined) {
      throw invalidSchedule(expression, `unknown macro ${trimmed}; use @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly or @every <duration>`);
    }
    return ['0', ...expanded.split(' ')];
  }
  const fields = trimmed.split(/\s+/);
  if (fields.length === 5) return ['0', ...fields];
  if (fields.length === 6 || fields.length === 7) return fields;
  throw invalidSchedule(
    expression,
    `expected 5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, or 7 with a year last; got ${trimmed === '' ? 0 : fields.length}`,
  );
}

/** Our own checks first, so the common mistakes get a message that names the field and value. */
function checkField(expression: string, spec: FieldSpec, field: string): void {
  if (!/^[0-9A-Za-z*?,\-/#+]+$/.test(field)) {
    throw invalidSchedule(expression, `${spec.name} field "${field}" contains characters other than digits, names, * ? , - / # L W`);
  }
  for (const item of field.split(',')) {
    const [base = '', step, extra] = item.replace(/^\+/, '').split('/');
    if (extra !== undefined) throw invalidSchedule(expression, `${spec.name} field "${item}" has more than one /`);
    if (step !== undefined && !/^[1-9]\d*$/.test(step)) {
      throw invalidSchedule(expression, `${spec.name} field step "/${step}" must be a whole number of at least 1`);
    }
    const [range = '', nth] = base.split('#');
    for (const word of range.toUpperCase().match(/[A-Z]+/g) ?? []) {
      if (!spec.words.test(word)) throw invalidSchedule(expression, `${spec.name} field "${item}" has unknown word "${word}"`);
    }
    for (const digits of range.match(/\d+/g) ?? []) {
      const value = Number(digits);
      if (value < spec.min || value > spec.max) {
        throw invalidSchedule(expression, `${spec.name} field value ${value} is out of range ${spec.min}-${spec.max}`);
      }
    }
    if (nth !== undefined && !/^(?:[1-5]|L)$/i.test(nth)) {
      throw invalidSchedule(expression, `${spec.name} field "${item}": #${nth} must be #1 to #5 or #L`);
    }
  }
}

function nextTable(flags: readonly number[], size: number): Int8Array {
  const table = new Int8Array(size).fill(-1);
  let next = -1;
  for (let i = size - 1; i >= 0; i--) {
    if (flags[i]) next = i;
    table[i] = next;
  }
  return table;
}

function cronerMessage(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).replace(/^CronPattern:\s*/, '');
}

function simpleDays(fields: readonly string[], pattern: CronPattern): SimpleDays | undefined {
  const dayFields = `${fields[3]} ${(fields[5] ?? '').toUpperCase().replace(new RegExp(WEEKDAYS, 'g'), '')}`;
  if (fields.length > 6 || /[LW#+]/i.test(dayFields)) return undefined;
  const dayOfWeek = Uint8Array.from(pattern.dayOfWeek.slice(0, 7), (v) => (v ? 1 : 0));
  if (pattern.dayOfWeek[7]) dayOfWeek[0] = 1;
  return {
    dayOfMonth: Uint8Array.from(pattern.day, (v) => (v ? 1 : 0)),
    month: Uint8Array.from(pattern.month, (v) => (v ? 1 : 0)),
    dayOfWeek,
    either: !pattern.starDOM && !pattern.starDOW,
    anyDayOfMonth: pattern.starDOM,
    anyDayOfWeek: pattern.starDOW,
  };
}

/**
 * Parsed expressions, most recently used last. Bounded: expressions come from users (every distinct one a
 * validation request sends would otherwise stay in memory for the life of the process).
 */
const cache = new Map<string, CronParts>();
export const CRON_CACHE_LIMIT = 5000;

/** how many parsed expressions are kept (for tests) */
export function cronCacheSize(): number {
  return cache.size;
}

/** Parses a cron expression or macro (not @every); shared per expression across schedules. */
export function parseCron(expression: string): CronParts {
  const cached = cache.get(expression);
  if (cached !== undefined) {
    cache.delete(expression);
    cache.set(expression, cached);
    return cached;
  }
  const fields = splitFields(expression);
  fields.forEach((field, i) => checkField(expression, FIELDS[i] as FieldSpec, field));
  let pattern: CronPattern;
  let days: Cron;
  try {
    pattern = new CronPattern(fields.join(' '));
    const dayFields = ['0', '0', '0', ...fields.slice(3)];
    days = new Cron(dayFields.join(' '), { paused: true, utcOffset: 0 });
  } catch (error) {
    throw invalidSchedule(expression, cronerMessage(error));
  }
  const hourField = fields[2] as string;
  const parts: CronParts = {
    nextSecond: nextTable(pattern.second, 60),
    nextMinute: nextTable(pattern.minute, 60),
    nextHour: nextTable(pattern.hour, 24),
    followsRealTime: /[*?/]/.test(hourField),
    days,
    simpleDays: simpleDays(fields, pattern),
  };
  if (parts.nextSecond[0] === -1 || parts.nextMinute[0] === -1 || parts.nextHour[0] === -1) {
    throw invalidSchedule(expression, 'no second, minute or hour matches');
  }
  cache.set(expression, parts);
  if (cache.size > CRON_CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
  return parts;
}
