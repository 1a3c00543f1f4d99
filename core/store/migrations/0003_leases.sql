-- Hourglass schema, version 3: leadership as a lease with an expiry and a fencing token (issue 12, defect 4).
--
-- A session advisory lock never expires while its holder is frozen or its host vanished without closing its
-- sockets: standbys waited for Postgres to notice (hours without TCP keepalive). A lease row expires on its own.
-- `epoch` grows by one at every takeover; the holder's writes check it (the fence), so a leader that wakes up
-- after losing the lease cannot write. Times are written from the holders' clocks, passed as parameters.
CREATE TABLE hg_leases (
  name        text PRIMARY KEY,
  -- one id per process and term, never reused: a restarted process is a new holder
  holder      text NOT NULL,
  epoch       bigint NOT NULL,
  acquired_at timestamptz NOT NULL,
  renewed_at  timestamptz NOT NULL,
  expires_at  timestamptz NOT NULL,
  -- the holder also holds a session advisory lock (a liveness hint): when a standby can take that lock,
  -- the holder's session is gone (kill -9 closed its socket) and the lease may be taken before it expires
  hinted      boolean NOT NULL DEFAULT false
);
