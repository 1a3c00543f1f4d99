-- Hourglass schema, version 4: why a run ended without running, as a code (core/model/run.ts RunReason).
-- `error` keeps the human sentence; `reason` is what the operator's Events and API clients match on.
ALTER TABLE hg_runs ADD COLUMN reason text;
