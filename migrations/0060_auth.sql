-- Who may use Portcullis: local users (argon2 password hashes) and users who
-- sign in with OpenID Connect, their browser sessions and their API tokens.
-- Session and token secrets are stored only as SHA-256 hashes.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    password_hash TEXT,                               -- argon2id PHC string; NULL: OpenID Connect only
    role          TEXT    NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    namespaces    TEXT,                               -- JSON array of namespaces; NULL: all
    created_at    INTEGER NOT NULL,                   -- unix milliseconds
    created_by    TEXT    NOT NULL
);

CREATE TABLE sessions (
    token_hash BLOB    PRIMARY KEY,                   -- SHA-256 of the cookie's value
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf       TEXT    NOT NULL,                      -- the session's CSRF token
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,                      -- absolute end
    last_seen  INTEGER NOT NULL                       -- for the idle timeout
) WITHOUT ROWID;
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    token_hash BLOB    NOT NULL UNIQUE,               -- SHA-256 of the token
    created_at INTEGER NOT NULL,
    expires_at INTEGER,                               -- NULL: never
    last_used  INTEGER
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);
