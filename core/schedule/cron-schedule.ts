import type { CompiledSchedule } from './compiled-schedule.ts';
import type { CronParts, SimpleDays } from './cron-expression.ts';
import type { ZoneRules } from './time-zone.ts';

const SECOND_MS = 1000;
const DAY_MS = 86_400_000;
/** guards against a pathological zone table; a real search ends in a few steps */
const MAX_STEPS = 10_000;

/**
 * A cron schedule in a time zone. Matching happens on "wall" milliseconds (local clock fields
 * laid out as if UTC); the zone table maps wall times back to instants under our DST rule:
 * - fixed-hour schedules (Debian cron): a skipped wall time fires at the end of the gap, a
 *   repeated one at its first occurrence only, so the job runs once per local day;
 * - schedules whose hour field is `*` or a step follow real time: each real instant whose wall
 *   reading matches fires, so a repeated hour fires twice (two real hours) and a skipped one never.
 */
export class CronSchedule implements CompiledSchedule {
  readonly expression: string;
  readonly timeZone: string;
  readonly #parts: CronParts;
  readonly #zone: ZoneRules;
  // one-entry memo of the day search: croner costs ~15 us, most calls stay within a day
  #memoFrom = Number.NaN;
  #memoDay = Number.NaN;

  constructor(expression: string, timeZone: string, parts: CronParts, zone: ZoneRules) {
    this.expression = expression;
    this.timeZone = timeZone;
    this.#parts = parts;
    this.#zone = zone;
  }

  next(afterMs: number): number | undefined {
    if (!Number.isFinite(afterMs)) return undefined;
    const after = Math.floor(afterMs);
    if (this.#zone.isUtc) return this.#firstWallAtOrAfter(after + 1);
    return this.#parts.followsRealTime ? this.#nextRealTime(after) : this.#nextFixedHour(after);
  }

  #nextRealTime(after: number): number | undefined {
    let from = after + 1;
    for (let step = 0; step < MAX_STEPS; step++) {
      const offset = this.#zone.offsetAt(from);
      const end = this.#zone.segmentEnd(from);
      const wall = this.#firstWallAtOrAfter(from + offset);
      if (wall === undefined) return undefined;
      if (wall - offset < end) return wall - offset;
      from = end;
    }
    return undefined;
  }

  #nextFixedHour(after: number): number | undefined {
    // no wall time at or before the wall reading of `after` maps to an instant after it
    let wall = this.#firstWallAtOrAfter(after + this.#zone.offsetAt(after) + 1);
    for (let step = 0; step < MAX_STEPS && wall !== undefined; step++) {
      const { instant, skipTo } = this.#resolve(wall);
      if (instant > after) return instant;
      wall = this.#firstWallAtOrAfter(Math.max(wall + 1, skipTo));
    }
    return undefined;
  }

  /**
   * The instant a fixed-hour schedule fires for a wall time: its only or first occurrence, or
   * the end of the gap that swallowed it. skipTo is the wall time that ends a repeated stretch,
   * so a caller inside the second pass can jump over wall times already fired.
   */
  #resolve(wall: number): { instant: number; skipTo: number } {
    const zone = this.#zone;
    const before = zone.offsetAt(wall - DAY_MS);
    const after = zone.offsetAt(wall + DAY_MS);
    const early = wall - before;
    const late = wall - after;
    const earlyOk = zone.offsetAt(early) === before;
    const lateOk = zone.offsetAt(late) === after;
    if (earlyOk && lateOk && early < late) {
      const transition = zone.nextTransition(early);
      return { instant: early, skipTo: transition ? transition.at + transition.before : wall + 1 };
    }
    if (earlyOk || lateOk) return { instant: earlyOk && (!lateOk || early < late) ? early : late, skipTo: wall + 1 };
    // in a gap: the first instant after it is the transition itself; but when the wall time that ends the gap
    // fires too (03:00 of `0 2,3 * * *` on spring forward), the gap's fire takes the instant just before it,
    // so both fire: one scheduled time each, as on any other day
    const transition = zone.nextTransition(late);
    if (!transition) return { instant: late, skipTo: wall + 1 };
    const gapEndWall = transition.at + transition.after;
    return { instant: this.#firstWallAtOrAfter(gapEndWall) === gapEndWall ? transition.at - 1 : transition.at, skipTo: wall + 1 };
  }

  /** smallest matching wall time >= wall (rounded up to a whole second) */
  #firstWallAtOrAfter(wall: number): number | undefined {
    const start = Math.ceil(wall / SECOND_MS) * SECOND_MS;
    const dayStart = Math.floor(start / DAY_MS) * DAY_MS;
    const day = this.#matchingDay(dayStart);
    if (day === undefined) return undefined;
    if (day === dayStart) {
      const second = this.#timeOfDay((start - dayStart) / SECOND_MS);
      if (second >= 0) return dayStart + second * SECOND_MS;
      const later = this.#matchingDay(dayStart + DAY_MS);
      return later === undefined ? undefined : later + this.#timeOfDay(0) * SECOND_MS;
    }
    return day + this.#timeOfDay(0) * SECOND_MS;
  }

  /** first matching second of the day at or after secondOfDay, or -1 */
  #timeOfDay(secondOfDay: number): number {
    const { nextHour, nextMinute, nextSecond } = this.#parts;
    const h = Math.floor(secondOfDay / 3600);
    const m = Math.floor((secondOfDay % 3600) / 60);
    const s = secondOfDay % 60;
    const firstMinute = nextMinute[0] as number;
    const firstSecond = nextSecond[0] as number;
    const hour = nextHour[h] as number;
    if (hour < 0) return -1;
    if (hour > h) return hour * 3600 + firstMinute * 60 + firstSecond;
    const minute = nextMinute[m] as number;
    if (minute > m) return h * 3600 + minute * 60 + firstSecond;
    if (minute === m) {
      const second = nextSecond[s] as number;
      if (second >= 0) return h * 3600 + m * 60 + second;
      const nextMin = m < 59 ? (nextMinute[m + 1] as number) : -1;
      if (nextMin >= 0) return h * 3600 + nextMin * 60 + firstSecond;
    }
    const nextH = h < 23 ? (nextHour[h + 1] as number) : -1;
    return nextH < 0 ? -1 : nextH * 3600 + firstMinute * 60 + firstSecond;
  }

  /** wall midnight of the first matching day at or after dayStart */
  #matchingDay(dayStart: number): number | undefined {
    if (!(this.#memoFrom <= dayStart && dayStart <= this.#memoDay)) {
      const simple = this.#parts.simpleDays;
      const found = simple ? scanDays(simple, dayStart) : this.#parts.days.nextRun(new Date(dayStart - 1))?.getTime();
      // "never" is remembered too, so an impossible date such as 30 Feb costs one search
      this.#memoFrom = dayStart;
      this.#memoDay = found ?? Number.POSITIVE_INFINITY;
    }
    return this.#memoDay === Number.POSITIVE_INFINITY ? undefined : this.#memoDay;
  }
}

/** how far ahead a day search looks: covers Feb 29 on a given weekday (28-year cycle) */
const SCAN_YEARS = 100;

function scanDays(days: SimpleDays, dayStart: number): number | undefined {
  const date = new Date(dayStart);
  const endYear = date.getUTCFullYear() + SCAN_YEARS;
  while (date.getUTCFullYear() < endYear) {
    if (!days.month[date.getUTCMonth()]) {
      date.setUTCMonth(date.getUTCMonth() + 1, 1);
      continue;
    }
    const domOk = days.dayOfMonth[date.getUTCDate() - 1] === 1;
    const dowOk = days.dayOfWeek[date.getUTCDay()] === 1;
    const ok = days.either ? domOk || dowOk : (days.anyDayOfMonth || domOk) && (days.anyDayOfWeek || dowOk);
    if (ok) return date.getTime();
    date.setUTCDate(date.getUTCDate() + 1);
  }
  return undefined;
}
