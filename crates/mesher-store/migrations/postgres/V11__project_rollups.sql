-- Rollups by project for the reads that were counting per issue or per event (issue 13):
--
-- issue_hourly gains its issue's project, so that an issue list sorted by count over a period
-- sums the period's whole hours for the whole project in one range scan instead of two
-- lookups per issue. The index replaces the one by hour alone, which only the top-issues
-- aggregate read (it now reads this one). `count` stays out of the index so that the writer's
-- increments can remain heap-only updates.
ALTER TABLE issue_hourly ADD COLUMN project_id BIGINT;
UPDATE issue_hourly h SET project_id = i.project_id FROM issues i WHERE i.id = h.issue_id;
ALTER TABLE issue_hourly ALTER COLUMN project_id SET NOT NULL;
DROP INDEX issue_hourly_hour;
CREATE INDEX issue_hourly_project_hour ON issue_hourly (project_id, hour, issue_id);

-- Tag values per project and hour, as issue_tags are per issue: the project-wide breakdown of
-- a tag over a range sums the range's whole hours here and reads events only for the partial
-- hours at its ends. Filled from the stored events' tags; deleting an issue's events subtracts
-- theirs. Hours are UTC whatever the session's time zone.
CREATE TABLE project_tag_hourly (
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    hour       TIMESTAMPTZ NOT NULL,
    value      TEXT NOT NULL,
    count      BIGINT NOT NULL,
    PRIMARY KEY (project_id, key, hour, value)
);
INSERT INTO project_tag_hourly (project_id, key, hour, value, count)
    SELECT e.project_id, t.key, date_trunc('hour', e.timestamp AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
           t.value #>> '{}', count(*)
    FROM events e, jsonb_each(e.tags) t
    WHERE jsonb_typeof(t.value) = 'string'
    GROUP BY 1, 2, 3, 4;
