export interface ScenarioOptions {
  /** small counts for the smoke run: every code path, no meaningful figures */
  quick: boolean;
}
