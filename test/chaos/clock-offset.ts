/**
 * Preloaded into a process under chaos (NODE_OPTIONS=--import=<this file>) to give it a clock that
 * jumps: Date.now() and `new Date()` read the real time plus an offset in milliseconds taken from the file
 * named by HOURGLASS_CHAOS_CLOCK_FILE, re-read every 100 ms. The harness writes that file to jump the
 * clock forward or back while the process runs, as NTP or a VM resume would. Timers (setTimeout) and
 * performance.now() keep real, monotonic time, exactly as after a real jump of the wall clock.
 * The production code has no test hook for this: CoreContext.now is Date.now in cli/runtime.ts.
 */
import { readFileSync } from 'node:fs';

const file = process.env.HOURGLASS_CHAOS_CLOCK_FILE;

if (file) {
  const RealDate = Date;
  const realNow = RealDate.now.bind(RealDate);
  let offsetMs = 0;
  const read = (): void => {
    try {
      const value = Number(readFileSync(file, 'utf8').trim());
      offsetMs = Number.isFinite(value) ? value : 0;
    } catch {
      offsetMs = 0;
    }
  };
  read();
  setInterval(read, 100).unref();

  class OffsetDate extends RealDate {
    constructor(...args: unknown[]) {
      if (args.length === 0) super(realNow() + offsetMs);
      else super(...(args as [string | number | Date]));
    }
    static override now(): number {
      return realNow() + offsetMs;
    }
  }
  globalThis.Date = OffsetDate as DateConstructor;
}
