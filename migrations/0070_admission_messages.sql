-- The admission log's messages, each text stored once. Under load the webhook
-- logs thousands of decisions a second, nearly all with one of a few texts
-- (a warning of ~500 bytes names every failing container): one copy per row
-- made most of the log's bytes, and most of the cost of writing it.
CREATE TABLE admission_messages (
    id   INTEGER PRIMARY KEY,
    text TEXT    NOT NULL UNIQUE
);

INSERT INTO admission_messages (text) SELECT DISTINCT message FROM admission_log;

CREATE TABLE admission_log_new (
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,                 -- unix milliseconds
    uid        TEXT    NOT NULL,                 -- the AdmissionReview request uid
    operation  TEXT    NOT NULL,                 -- CREATE, UPDATE, or '' when unreadable
    kind       TEXT    NOT NULL,
    namespace  TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    user       TEXT    NOT NULL,
    verdict    TEXT    NOT NULL CHECK (verdict IN ('allowed', 'denied', 'warned', 'audited', 'error')),
    mode       TEXT    NOT NULL,                 -- enforce, warn, audit, or '' (none applied)
    profile    TEXT    NOT NULL,                 -- '' when none applied
    message_id INTEGER NOT NULL,                 -- admission_messages.id (the writer keeps it there)
    dry_run    INTEGER NOT NULL DEFAULT 0
);

INSERT INTO admission_log_new
SELECT l.id, l.at, l.uid, l.operation, l.kind, l.namespace, l.name, l.user, l.verdict, l.mode,
       l.profile, m.id, l.dry_run
FROM admission_log l JOIN admission_messages m ON m.text = l.message;

DROP TABLE admission_log;
ALTER TABLE admission_log_new RENAME TO admission_log;

CREATE INDEX admission_log_verdict ON admission_log (verdict, id);
CREATE INDEX admission_log_namespace ON admission_log (namespace, id);
