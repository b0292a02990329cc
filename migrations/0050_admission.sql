-- Every admission webhook decision, newest kept (the writer trims the table
-- to the last 10,000 rows).
CREATE TABLE admission_log (
    id        INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,                 -- unix milliseconds
    uid       TEXT    NOT NULL,                 -- the AdmissionReview request uid
    operation TEXT    NOT NULL,                 -- CREATE, UPDATE, or '' when unreadable
    kind      TEXT    NOT NULL,
    namespace TEXT    NOT NULL,
    name      TEXT    NOT NULL,
    user      TEXT    NOT NULL,
    verdict   TEXT    NOT NULL CHECK (verdict IN ('allowed', 'denied', 'warned', 'audited', 'error')),
    mode      TEXT    NOT NULL,                 -- enforce, warn, audit, or '' (none applied)
    profile   TEXT    NOT NULL,                 -- '' when none applied
    message   TEXT    NOT NULL,
    dry_run   INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX admission_log_verdict ON admission_log (verdict, id);
CREATE INDEX admission_log_namespace ON admission_log (namespace, id);
