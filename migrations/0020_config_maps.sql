-- ConfigMaps of a snapshot (their string `data` as JSON), read by the policy
-- advisor to follow `envFrom` and `configMapKeyRef` values to the Services they name.

CREATE TABLE config_maps (
    snapshot_id INTEGER NOT NULL REFERENCES snapshots (id) ON DELETE CASCADE,
    namespace   TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    data        TEXT    NOT NULL DEFAULT '{}',   -- JSON: key -> string value
    PRIMARY KEY (snapshot_id, namespace, name)
) WITHOUT ROWID;
