-- Outcomes per project and hour (issue 17, RETAIN-04): what became of the events a project
-- sent. `accepted`, `discarded` and `capped` are added by the writer in the batch's own
-- transaction; the edge's reasons (`sampled`, `rate_limited`, …) by each node's outcome
-- flusher. `hour` is the hour of receipt (ms since the epoch).
CREATE TABLE project_outcomes (
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    hour       INTEGER NOT NULL,
    reason     TEXT NOT NULL,
    count      INTEGER NOT NULL,
    PRIMARY KEY (project_id, hour, reason)
) WITHOUT ROWID;

-- Keep at most this many events per issue and hour; NULL: no cap.
ALTER TABLE projects ADD COLUMN max_events_per_issue_per_hour INTEGER
    CHECK (max_events_per_issue_per_hour IS NULL OR max_events_per_issue_per_hour > 0);
