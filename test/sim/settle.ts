/**
 * Lets every promise chain of a simulated world run until nothing moves: no round trip in flight and the
 * same `signature` (counts of round trips, timers fired, trace lines) twice in a row. False when the world
 * never went idle (a busy loop without timers).
 */
export async function settle(signature: () => string, inflight: () => number): Promise<boolean> {
  let last = '';
  let quiet = 0;
  for (let turn = 0; turn < 20_000; turn++) {
    await new Promise((resolve) => setImmediate(resolve));
    const now = signature();
    if (now === last && inflight() === 0) {
      if (++quiet >= 2) return true;
    } else quiet = 0;
    last = now;
  }
  return false;
}
