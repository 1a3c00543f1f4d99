/** A parsed schedule bound to a time zone; pure: it never reads the clock. */
export interface CompiledSchedule {
  readonly expression: string;
  readonly timeZone: string;
  /** first fire time strictly after afterMs (epoch ms), or undefined if there is none */
  next(afterMs: number): number | undefined;
}
