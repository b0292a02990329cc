-- Snapshots of a cluster (or a folder of manifests) and what they contain.
-- Every snapshot is written in one transaction; rows of a snapshot never change afterwards.

CREATE TABLE snapshots (
    id               INTEGER PRIMARY KEY,
    cluster          TEXT    NOT NULL,            -- "seed", a kube context, or "manifests"
    source           TEXT    NOT NULL,            -- where it was read from, in words
    taken_at         INTEGER NOT NULL,            -- unix milliseconds
    namespaces       INTEGER NOT NULL,
    workloads        INTEGER NOT NULL,
    containers       INTEGER NOT NULL,
    services         INTEGER NOT NULL,
    network_policies INTEGER NOT NULL,
    skipped          TEXT    NOT NULL DEFAULT '{}', -- JSON: kind -> count of objects not read
    errors           TEXT    NOT NULL DEFAULT '[]'  -- JSON: documents that could not be read
);
CREATE INDEX snapshots_cluster ON snapshots (cluster, taken_at);

CREATE TABLE namespaces (
    snapshot_id INTEGER NOT NULL REFERENCES snapshots (id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    labels      TEXT    NOT NULL DEFAULT '{}',
    annotations TEXT    NOT NULL DEFAULT '{}',
    declared    INTEGER NOT NULL,                 -- 0 when only referenced by objects
    PRIMARY KEY (snapshot_id, name)
) WITHOUT ROWID;

CREATE TABLE workloads (
    id              INTEGER PRIMARY KEY,
    snapshot_id     INTEGER NOT NULL REFERENCES snapshots (id) ON DELETE CASCADE,
    namespace       TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    api_version     TEXT    NOT NULL,
    labels          TEXT    NOT NULL DEFAULT '{}',
    annotations     TEXT    NOT NULL DEFAULT '{}',
    replicas        INTEGER,
    schedule        TEXT,
    folded          TEXT    NOT NULL DEFAULT '[]',
    origin_file     TEXT    NOT NULL,
    origin_document INTEGER NOT NULL,
    origin_line     INTEGER NOT NULL,
    template        TEXT    NOT NULL,             -- JSON pod template {metadata, spec}
    raw             TEXT    NOT NULL,             -- JSON object as read
    containers      INTEGER NOT NULL,
    flags           TEXT    NOT NULL,             -- ",flag,flag," union over containers
    worst_risk      INTEGER NOT NULL,             -- 0 safe, 1 risky, 2 dangerous
    level           TEXT    NOT NULL,             -- tightest Pod Security level at latest
    UNIQUE (snapshot_id, namespace, kind, name)
);
CREATE INDEX workloads_snapshot_ns ON workloads (snapshot_id, namespace);

CREATE TABLE containers (
    workload_id INTEGER NOT NULL REFERENCES workloads (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    name        TEXT    NOT NULL,
    kind        TEXT    NOT NULL,                 -- init | regular | ephemeral
    image       TEXT    NOT NULL,
    cells       TEXT    NOT NULL,                 -- JSON: the 16 effective settings
    flags       TEXT    NOT NULL,
    worst_risk  INTEGER NOT NULL,
    PRIMARY KEY (workload_id, position)
) WITHOUT ROWID;

CREATE TABLE services (
    snapshot_id INTEGER NOT NULL REFERENCES snapshots (id) ON DELETE CASCADE,
    namespace   TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    type        TEXT    NOT NULL,
    raw         TEXT    NOT NULL,
    PRIMARY KEY (snapshot_id, namespace, name)
) WITHOUT ROWID;

CREATE TABLE network_policies (
    snapshot_id INTEGER NOT NULL REFERENCES snapshots (id) ON DELETE CASCADE,
    namespace   TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    raw         TEXT    NOT NULL,
    PRIMARY KEY (snapshot_id, namespace, name)
) WITHOUT ROWID;
