-- Hourglass schema, version 8: the identity of this installation.
-- One random id per database, made once. Processes that share a broker with other installations claim their
-- broker namespace with it, so two installations on one Redis refuse to mix their queues (issue 18 item 15).
CREATE TABLE hg_install (
  singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  id         uuid NOT NULL DEFAULT gen_random_uuid(),
  created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO hg_install DEFAULT VALUES;
