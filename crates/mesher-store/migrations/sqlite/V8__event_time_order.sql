-- Events inside an issue are listed and stepped through by event time, ties by id (issue 12,
-- row 6); an issue list's period counts and matches its events by time (rows 7 and 12). The
-- index replaces (issue_id, id), which deleting an issue's events also walks.
DROP INDEX events_issue_id;
CREATE INDEX events_issue_timestamp ON events (issue_id, timestamp, id);
-- Project-wide lists break timestamp ties by id; naming it lets the index serve
-- `ORDER BY timestamp DESC, id DESC` without sorting the ties.
DROP INDEX events_project_timestamp;
CREATE INDEX events_project_timestamp ON events (project_id, timestamp, id);
