-- Where alerts are sent (a webhook URL, e.g. a Slack incoming webhook), and
-- the outbox of deliveries, written in the same transaction as the alerts.

CREATE TABLE notification_routes (
    id             INTEGER PRIMARY KEY,
    name           TEXT    NOT NULL,
    url            TEXT    NOT NULL,
    namespace      TEXT    NOT NULL DEFAULT '',    -- exact name or glob with *; '' = every namespace
    selector       TEXT    NOT NULL DEFAULT '',    -- "team=payments,tier=web" on workload labels; '' = any
    min_severity   TEXT    NOT NULL DEFAULT 'medium' CHECK (min_severity IN ('high', 'medium')),
    created_at     INTEGER NOT NULL
);

CREATE TABLE notification_deliveries (
    id              INTEGER PRIMARY KEY,
    route_id        INTEGER NOT NULL REFERENCES notification_routes (id) ON DELETE CASCADE,
    alert_id        INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    payload         TEXT    NOT NULL,              -- JSON body as sent
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,              -- unix milliseconds
    state           TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (state, next_attempt_at);
CREATE INDEX notification_deliveries_route ON notification_deliveries (route_id, id);
