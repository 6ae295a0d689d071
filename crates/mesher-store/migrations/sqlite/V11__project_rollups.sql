-- Rollups by project for the reads that were counting per issue or per event (issue 13):
--
-- issue_hourly gains its issue's project, so that an issue list sorted by count over a period
-- sums the period's whole hours for the whole project in one range scan instead of two
-- lookups per issue. The covering index (count included) replaces the one by hour alone, which
-- only the top-issues aggregate read (it now reads this one). The table is rebuilt because
-- SQLite cannot add a NOT NULL column without a default.
CREATE TABLE issue_hourly_v11 (
    issue_id   INTEGER NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    hour       INTEGER NOT NULL,
    count      INTEGER NOT NULL,
    project_id INTEGER NOT NULL,
    PRIMARY KEY (issue_id, hour)
) WITHOUT ROWID;
INSERT INTO issue_hourly_v11 (issue_id, hour, count, project_id)
    SELECT h.issue_id, h.hour, h.count, i.project_id
    FROM issue_hourly h JOIN issues i ON i.id = h.issue_id;
DROP TABLE issue_hourly;
ALTER TABLE issue_hourly_v11 RENAME TO issue_hourly;
CREATE INDEX issue_hourly_project_hour ON issue_hourly (project_id, hour, issue_id, count);

-- Tag values per project and hour, as issue_tags are per issue: the project-wide breakdown of
-- a tag over a range sums the range's whole hours here and reads events only for the partial
-- hours at its ends. Filled from the stored events' tags; deleting an issue's events subtracts
-- theirs.
CREATE TABLE project_tag_hourly (
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    hour       INTEGER NOT NULL,
    value      TEXT NOT NULL,
    count      INTEGER NOT NULL,
    PRIMARY KEY (project_id, key, hour, value)
) WITHOUT ROWID;
INSERT INTO project_tag_hourly (project_id, key, hour, value, count)
    SELECT e.project_id, t.key, e.timestamp - ((e.timestamp % 3600000) + 3600000) % 3600000,
           t.value, count(*)
    FROM events e, json_each(e.tags) t
    WHERE t.type = 'text'
    GROUP BY 1, 2, 3, 4;
