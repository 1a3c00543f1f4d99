/** "did you mean" for a mistyped IANA zone (Asia/Shangai -> Asia/Shanghai), as config keys have. */
export function nearestTimeZone(given: string): string | undefined {
  const zones = Intl.supportedValuesOf('timeZone');
  const lower = given.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const zone of zones) {
    const distance = editDistance(lower, zone.toLowerCase());
    if (distance < bestDistance) {
      best = zone;
      bestDistance = distance;
    }
  }
  // a suggestion only when it is plausibly a typo, not any zone at all
  return bestDistance <= Math.max(2, Math.floor(given.length / 4)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length] as number;
}
