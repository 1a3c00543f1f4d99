// Durations as users write them in specs and config: "30s", "1m30s", "2h", "1d", "500ms".
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
// bounded length: a duration is a few parts, and the regex must not be fed megabytes
const DURATION_RE = /^(?:\d{1,15}(?:\.\d{1,9})?(?:ms|s|m|h|d)){1,10}$/;
const PART_RE = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;

/**
 * The longest duration anything accepts: 100 years. Longer ones (`@every 99999999999999999999d`,
 * `olderThan`) made dates past the range of Date and Postgres, failing far from the input.
 */
export const MAX_DURATION_MS = 100 * 365.25 * 86_400_000;

/** Parses a duration into milliseconds; returns undefined when the text is not a duration or exceeds MAX_DURATION_MS. */
export function parseDurationMs(text: string): number | undefined {
  const trimmed = text.trim();
  if (!DURATION_RE.test(trimmed)) return undefined;
  let total = 0;
  for (const match of trimmed.matchAll(PART_RE)) {
    total += Number(match[1]) * (UNIT_MS[match[2] as string] as number);
  }
  return Number.isFinite(total) && total <= MAX_DURATION_MS ? Math.round(total) : undefined;
}
