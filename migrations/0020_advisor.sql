-- The policy advisor's inputs beyond workloads, services and network policies.

-- ConfigMaps of a snapshot (their string `data` as JSON), read to follow
-- `envFrom` and `configMapKeyRef` values to the Services they name.
CREATE TABLE config_maps (
    snapshot_id INTEGER NOT NULL REFERENCES snapshots (id) ON DELETE CASCADE,
    namespace   TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    data        TEXT    NOT NULL DEFAULT '{}',   -- JSON: key -> string value
    PRIMARY KEY (snapshot_id, namespace, name)
) WITHOUT ROWID;

-- Observed flows (imported JSON lines or Hubble flows), resolved to the
-- snapshot's workloads and added up per connection.
CREATE TABLE flows (
    snapshot_id INTEGER NOT NULL REFERENCES snapshots (id) ON DELETE CASCADE,
    source      TEXT    NOT NULL,                -- namespace/Kind/name, or "external"
    destination TEXT    NOT NULL,                -- namespace/Kind/name
    port        INTEGER NOT NULL,                -- the port the destination pod receives on
    protocol    TEXT    NOT NULL,
    count       INTEGER NOT NULL,
    dropped     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (snapshot_id, source, destination, port, protocol)
) WITHOUT ROWID;
