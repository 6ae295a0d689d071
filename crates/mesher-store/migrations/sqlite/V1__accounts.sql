-- Accounts: organizations, projects, DSN keys, users, memberships, API tokens.
-- Times are INTEGER milliseconds since the Unix epoch (UTC).

CREATE TABLE instance_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE organizations (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL,
    slug       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    CONSTRAINT organizations_slug_key UNIQUE (slug)
);

CREATE TABLE projects (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id                INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name                  TEXT NOT NULL,
    slug                  TEXT NOT NULL,
    platform              TEXT,
    retention_days        INTEGER NOT NULL DEFAULT 90 CHECK (retention_days > 0),
    sample_rate           REAL NOT NULL DEFAULT 1.0 CHECK (sample_rate >= 0 AND sample_rate <= 1),
    rate_limit_per_minute INTEGER NOT NULL DEFAULT 6000 CHECK (rate_limit_per_minute >= 0),
    created_at            INTEGER NOT NULL,
    CONSTRAINT projects_org_slug_key UNIQUE (org_id, slug)
);

CREATE TABLE project_keys (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    public_key TEXT NOT NULL,
    label      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    CONSTRAINT project_keys_public_key_key UNIQUE (public_key)
);
CREATE INDEX project_keys_project ON project_keys (project_id);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT NOT NULL,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    CONSTRAINT users_email_key UNIQUE (email)
);

CREATE TABLE memberships (
    org_id     INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, user_id)
) WITHOUT ROWID;
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    label        TEXT NOT NULL,
    scope        TEXT NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
    token_hash   TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER,
    CONSTRAINT api_tokens_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);
