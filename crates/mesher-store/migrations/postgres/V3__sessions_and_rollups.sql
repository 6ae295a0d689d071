-- Sign-in sessions, and rollups that keep dashboards and filters from scanning events.

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- Events per project, hour and level: volume and level charts.
CREATE TABLE project_hourly (
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    hour       TIMESTAMPTZ NOT NULL,
    level      TEXT NOT NULL,
    count      BIGINT NOT NULL,
    PRIMARY KEY (project_id, hour, level)
);

-- Tag values per issue: the issue page's tag breakdown and the environment/release filters.
CREATE TABLE issue_tags (
    issue_id  BIGINT NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    count     BIGINT NOT NULL,
    last_seen TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (issue_id, key, value)
);
CREATE INDEX issue_tags_key_value ON issue_tags (key, value, issue_id);

-- Stored events and issues per project, kept by the writer so that reading them is free.
ALTER TABLE projects ADD COLUMN event_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE projects ADD COLUMN issue_count BIGINT NOT NULL DEFAULT 0;

CREATE INDEX issues_project_first_seen ON issues (project_id, first_seen DESC, id DESC);
CREATE INDEX issues_project_count ON issues (project_id, event_count DESC, id DESC);
CREATE INDEX issues_project_status ON issues (project_id, status);
-- Event lists are newest first by id (received order).
CREATE INDEX events_project_id ON events (project_id, id);
-- An issue's events by id; also what deleting an issue cascades through. It replaces
-- (issue_id, timestamp), which no query reads: one index less to update per stored event.
CREATE INDEX events_issue_id ON events (issue_id, id);
DROP INDEX events_issue_timestamp;
-- Payloads are zstd-compressed already: TOAST must not try to compress them again.
ALTER TABLE events ALTER COLUMN payload SET STORAGE EXTERNAL;
-- Top issues of a time range read issue_hourly by hour.
CREATE INDEX issue_hourly_hour ON issue_hourly (hour);
