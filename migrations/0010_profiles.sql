-- Custom profiles: PodSecurityPolicy-equivalent policies, optionally checked
-- together with a Pod Security Standards level. Presets live in the code and
-- are never stored.

CREATE TABLE profiles (
    name        TEXT    PRIMARY KEY,          -- a Kubernetes object name, never a preset's
    description TEXT    NOT NULL DEFAULT '',
    base        TEXT,                         -- level checked as well, e.g. "restricted:latest"
    spec        TEXT    NOT NULL,             -- JSON: policy::psp::Profile
    origin      TEXT    NOT NULL DEFAULT '',  -- in words: "imported from psp.yaml", "copy of strict"
    created_at  INTEGER NOT NULL,             -- unix milliseconds
    updated_at  INTEGER NOT NULL
) WITHOUT ROWID;
