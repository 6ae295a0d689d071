-- Issues (groups of events sharing a fingerprint) and the events themselves.
-- Times are INTEGER milliseconds since the Unix epoch (UTC).

CREATE TABLE issues (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id       INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    fingerprint      TEXT NOT NULL,
    title            TEXT NOT NULL,
    culprit          TEXT,
    level            TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'unresolved'
                     CHECK (status IN ('unresolved', 'resolved', 'archived', 'discarded')),
    substatus        TEXT,
    first_seen       INTEGER NOT NULL,
    last_seen        INTEGER NOT NULL,
    event_count      INTEGER NOT NULL DEFAULT 0,
    last_release     TEXT,
    last_environment TEXT,
    -- Distinct users, estimated from a HyperLogLog sketch of user identities.
    user_count       INTEGER NOT NULL DEFAULT 0,
    users_hll        BLOB,
    resolved_at      INTEGER,
    -- "Resolved in next release": only an event of a release first seen after resolved_at
    -- regresses the issue. Holds the release current at resolution (may be '').
    resolved_in_release TEXT,
    assignee_id      INTEGER REFERENCES users (id) ON DELETE SET NULL,
    -- Why events join this issue: the grouping components, as JSON.
    grouping         TEXT,
    CONSTRAINT issues_project_fingerprint_key UNIQUE (project_id, fingerprint)
);
CREATE INDEX issues_project_last_seen ON issues (project_id, last_seen DESC, id DESC);
CREATE INDEX issues_archived ON issues (status, last_seen) WHERE status = 'archived';

-- Events per issue per hour: escalation, per-issue timelines and sparklines.
CREATE TABLE issue_hourly (
    issue_id INTEGER NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    hour     INTEGER NOT NULL,
    count    INTEGER NOT NULL,
    PRIMARY KEY (issue_id, hour)
) WITHOUT ROWID;

-- Releases seen per project, with when they were first seen ("resolved in next release").
CREATE TABLE releases (
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    version    TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    PRIMARY KEY (project_id, version)
) WITHOUT ROWID;

-- What happened to an issue, by whom.
CREATE TABLE issue_activity (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    issue_id   INTEGER NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    actor_id   INTEGER REFERENCES users (id) ON DELETE SET NULL,
    data       TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL
);
CREATE INDEX issue_activity_issue ON issue_activity (issue_id, id);

-- `id` is the rowid, shared with the full-text index. The event's own id (16 bytes) is unique per
-- project, which makes writes idempotent: a retried event is found, not stored twice.
CREATE TABLE events (
    id           INTEGER PRIMARY KEY,
    project_id   INTEGER NOT NULL,
    issue_id     INTEGER NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    event_id     BLOB NOT NULL,
    timestamp    INTEGER NOT NULL,
    received_at  INTEGER NOT NULL,
    level        TEXT NOT NULL,
    title        TEXT NOT NULL,
    environment  TEXT,
    release      TEXT,
    tags         TEXT NOT NULL DEFAULT '{}',
    payload      BLOB NOT NULL,
    payload_size INTEGER NOT NULL
);
CREATE UNIQUE INDEX events_project_event_id ON events (project_id, event_id);
CREATE INDEX events_project_timestamp ON events (project_id, timestamp DESC);
CREATE INDEX events_issue_timestamp ON events (issue_id, timestamp DESC);

-- Full-text index over messages and exception values; rowid = events.id. Contentless: the text
-- lives (compressed) in the payload, the index keeps only what search needs.
CREATE VIRTUAL TABLE events_fts USING fts5 (text, content = '', contentless_delete = 1);
