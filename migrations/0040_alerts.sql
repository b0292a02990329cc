-- Alerts: one row per failing (workload, container, control, profile, mode)
-- of a cluster, kept across snapshots while it keeps failing. A finding that
-- comes back after it was resolved is a new row.

CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY,
    cluster         TEXT    NOT NULL,
    fingerprint     TEXT    NOT NULL,              -- policy::assignments::Finding::fingerprint
    workload        TEXT    NOT NULL,              -- namespace/Kind/name
    namespace       TEXT    NOT NULL,
    container       TEXT    NOT NULL DEFAULT '',   -- '' = the pod level
    control         TEXT    NOT NULL,              -- control slug
    severity        TEXT    NOT NULL CHECK (severity IN ('high', 'medium')),
    profile         TEXT    NOT NULL,
    mode            TEXT    NOT NULL CHECK (mode IN ('enforce', 'warn', 'audit')),
    message         TEXT    NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'acknowledged', 'resolved')),
    first_seen      INTEGER NOT NULL,              -- unix milliseconds
    last_seen       INTEGER NOT NULL,
    resolved_at     INTEGER,
    acknowledged_by TEXT,
    acknowledged_at INTEGER,
    last_snapshot   INTEGER NOT NULL               -- the newest snapshot it was seen in
);
-- At most one live (open or acknowledged) alert per fingerprint.
CREATE UNIQUE INDEX alerts_live_fingerprint ON alerts (fingerprint) WHERE state <> 'resolved';
CREATE INDEX alerts_cluster_state ON alerts (cluster, state);
CREATE INDEX alerts_state_namespace ON alerts (state, namespace);
CREATE INDEX alerts_workload ON alerts (workload);
CREATE INDEX alerts_control ON alerts (control);
