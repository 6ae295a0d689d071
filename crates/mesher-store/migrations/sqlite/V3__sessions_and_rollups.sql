-- Sign-in sessions, and rollups that keep dashboards and filters from scanning events.

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_expires ON sessions (expires_at);

-- Events per project, hour and level: volume and level charts.
CREATE TABLE project_hourly (
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    hour       INTEGER NOT NULL,
    level      TEXT NOT NULL,
    count      INTEGER NOT NULL,
    PRIMARY KEY (project_id, hour, level)
) WITHOUT ROWID;

-- Tag values per issue: the issue page's tag breakdown and the environment/release filters.
CREATE TABLE issue_tags (
    issue_id  INTEGER NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    count     INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (issue_id, key, value)
) WITHOUT ROWID;
CREATE INDEX issue_tags_key_value ON issue_tags (key, value, issue_id);

-- Stored events and issues per project, kept by the writer so that reading them is free.
ALTER TABLE projects ADD COLUMN event_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE projects ADD COLUMN issue_count INTEGER NOT NULL DEFAULT 0;

CREATE INDEX issues_project_first_seen ON issues (project_id, first_seen DESC, id DESC);
CREATE INDEX issues_project_count ON issues (project_id, event_count DESC, id DESC);
CREATE INDEX issues_project_status ON issues (project_id, status);
-- Event lists are newest first by id (received order); the full-text index shares the id.
CREATE INDEX events_project_id ON events (project_id, id);
-- An issue's events by id; also what deleting an issue cascades through. It replaces
-- (issue_id, timestamp), which no query reads: one index less to update per stored event.
CREATE INDEX events_issue_id ON events (issue_id, id);
DROP INDEX events_issue_timestamp;
-- Top issues of a time range read issue_hourly by hour.
CREATE INDEX issue_hourly_hour ON issue_hourly (hour);
