-- Profile assignments, exemptions and the audit log of every change to them.

-- One profile per (cluster, target, mode). target: "cluster" (the default
-- for namespaces without an assignment), "namespace/<ns>" or
-- "workload/<ns>/<Kind>/<name>". profile: as typed ("restricted",
-- "baseline:v1.30", "strict", a custom profile's name).
CREATE TABLE assignments (
    id         INTEGER PRIMARY KEY,
    cluster    TEXT    NOT NULL,
    target     TEXT    NOT NULL,
    mode       TEXT    NOT NULL CHECK (mode IN ('enforce', 'warn', 'audit')),
    profile    TEXT    NOT NULL,
    created_by TEXT    NOT NULL,
    created_at INTEGER NOT NULL,                  -- unix milliseconds
    UNIQUE (cluster, target, mode)
);

-- What a workload, one of its containers, or one control is excused from,
-- until expires_at.
CREATE TABLE exemptions (
    id         INTEGER PRIMARY KEY,
    cluster    TEXT    NOT NULL,
    workload   TEXT    NOT NULL,                  -- namespace/Kind/name
    container  TEXT,                              -- NULL: every container
    control    TEXT,                              -- control slug; NULL: every control
    reason     TEXT    NOT NULL,
    owner      TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,                  -- unix milliseconds
    created_by TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX exemptions_workload ON exemptions (cluster, workload);

-- Every change to assignments and exemptions: who, when, before and after
-- (JSON of the row, NULL when there was none). An undo is itself an entry
-- (undo_of), and marks the entry it undid (undone_by).
CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,                   -- unix milliseconds
    actor     TEXT    NOT NULL,
    action    TEXT    NOT NULL,                   -- assign | unassign | exempt | unexempt | undo
    cluster   TEXT    NOT NULL,
    subject   TEXT    NOT NULL,                   -- the target, or "exemption <id> of <workload>"
    before    TEXT,
    after     TEXT,
    undo_of   INTEGER REFERENCES audit_log (id),
    undone_by INTEGER REFERENCES audit_log (id)
);
CREATE INDEX audit_log_at ON audit_log (at);
