import { ScheduleError } from './errors.ts';
import { nearestTimeZone } from './zone-suggestion.ts';

const SECOND_MS = 1000;
const DAY_MS = 86_400_000;

/** A moment the zone's UTC offset changes; offsets in ms, wall = instant + offset. */
export interface Transition {
  readonly at: number;
  readonly before: number;
  readonly after: number;
}

interface YearRules {
  /** offset in force just before the year starts (a transition at the very start is listed) */
  readonly entryOffset: number;
  readonly transitions: readonly Transition[];
}

/** Throws ScheduleError(UnknownTimeZone) unless Intl knows the IANA zone. */
export function validateTimeZone(timeZone: string): void {
  zoneRules(timeZone);
}

function makeFormat(timeZone: string): Intl.DateTimeFormat {
  if (typeof timeZone !== 'string' || timeZone.trim() === '') {
    throw new ScheduleError('UnknownTimeZone', 'time zone must be an IANA name such as "Europe/Berlin" or "UTC"');
  }
  try {
    return new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  } catch (error) {
    if (error instanceof RangeError) {
      const near = nearestTimeZone(timeZone);
      throw new ScheduleError('UnknownTimeZone', `unknown IANA time zone ${JSON.stringify(timeZone)}${near ? `; did you mean "${near}"?` : ''}`);
    }
    throw error;
  }
}

/**
 * Offsets of one zone, learnt from Intl once per calendar year and then answered from a table:
 * next() runs for 100,000 schedules, and an Intl call per step would cost microseconds each.
 * The table finds transitions by sampling once a day, so two transitions within one day that
 * cancel out are not seen; no zone in the tz database does that in modern times.
 */
export class ZoneRules {
  readonly name: string;
  readonly isUtc: boolean;
  readonly #format: Intl.DateTimeFormat;
  readonly #years = new Map<number, YearRules>();

  constructor(name: string) {
    this.#format = makeFormat(name);
    this.name = name;
    const resolved = this.#format.resolvedOptions().timeZone;
    this.isUtc = resolved === 'UTC' || resolved === 'Etc/UTC' || resolved === 'Etc/GMT' || resolved === 'GMT';
  }

  /** wall-clock offset (ms) in force at the instant */
  offsetAt(ms: number): number {
    if (this.isUtc) return 0;
    const rules = this.#year(yearOf(ms));
    let offset = rules.entryOffset;
    for (const t of rules.transitions) {
      if (ms < t.at) break;
      offset = t.after;
    }
    return offset;
  }

  /** first transition strictly after ms within the same or the next calendar year */
  nextTransition(ms: number): Transition | undefined {
    if (this.isUtc) return undefined;
    const year = yearOf(ms);
    for (const y of [year, year + 1]) {
      for (const t of this.#year(y).transitions) if (t.at > ms) return t;
    }
    return undefined;
  }

  /** first instant after ms at which the offset may change: a transition or the next year boundary */
  segmentEnd(ms: number): number {
    if (this.isUtc) return Number.POSITIVE_INFINITY;
    const year = yearOf(ms);
    for (const t of this.#year(year).transitions) if (t.at > ms) return t.at;
    return Date.UTC(year + 1, 0, 1);
  }

  #year(year: number): YearRules {
    let rules = this.#years.get(year);
    if (rules === undefined) {
      rules = this.#learnYear(year);
      this.#years.set(year, rules);
    }
    return rules;
  }

  #learnYear(year: number): YearRules {
    const start = Date.UTC(year, 0, 1);
    const last = Date.UTC(year + 1, 0, 1) - SECOND_MS;
    const entryOffset = this.#intlOffset(start - SECOND_MS);
    const transitions: Transition[] = [];
    let prevMs = start - SECOND_MS;
    let prevOffset = entryOffset;
    for (let probe = start; prevMs < last; probe = Math.min(probe + DAY_MS, last)) {
      const offset = this.#intlOffset(probe);
      if (offset !== prevOffset) {
        // bisect to the second: transitions fall on whole seconds
        let lo = prevMs;
        let hi = probe;
        while (hi - lo > SECOND_MS) {
          const mid = lo + Math.floor((hi - lo) / 2 / SECOND_MS) * SECOND_MS;
          if (this.#intlOffset(mid) === prevOffset) lo = mid;
          else hi = mid;
        }
        transitions.push({ at: hi, before: prevOffset, after: this.#intlOffset(hi) });
        prevOffset = this.#intlOffset(hi);
        prevMs = hi;
        // re-scan the rest of this day from the transition, in case of a second change
        probe = hi;
        continue;
      }
      prevMs = probe;
      prevOffset = offset;
    }
    return { entryOffset, transitions };
  }

  #intlOffset(ms: number): number {
    const at = Math.floor(ms / SECOND_MS) * SECOND_MS;
    let y = 0;
    let mo = 0;
    let d = 0;
    let h = 0;
    let mi = 0;
    let s = 0;
    for (const part of this.#format.formatToParts(at)) {
      switch (part.type) {
        case 'year': y = Number(part.value); break;
        case 'month': mo = Number(part.value); break;
        case 'day': d = Number(part.value); break;
        case 'hour': h = Number(part.value); break;
        case 'minute': mi = Number(part.value); break;
        case 'second': s = Number(part.value); break;
        default: break;
      }
    }
    const wall = new Date(0);
    wall.setUTCFullYear(y, mo - 1, d);
    wall.setUTCHours(h, mi, s, 0);
    return wall.getTime() - at;
  }
}

function yearOf(ms: number): number {
  return new Date(ms).getUTCFullYear();
}

const zones = new Map<string, ZoneRules>();

/** One ZoneRules (and one DateTimeFormat) per zone name for the whole process. */
export function zoneRules(timeZone: string): ZoneRules {
  let rules = zones.get(timeZone);
  if (rules === undefined) {
    rules = new ZoneRules(timeZone);
    zones.set(timeZone, rules);
  }
  return rules;
}
