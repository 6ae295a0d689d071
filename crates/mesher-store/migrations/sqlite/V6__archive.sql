-- Archives that stick (issue 12, rows 1, 2 and 5).
-- When the substatus last changed: regressed and escalating issues become ongoing a week later.
ALTER TABLE issues ADD COLUMN substatus_changed_at INTEGER;
-- While archived: how (the condition, the expected volume, what the condition counts from), as
-- JSON. NULL for an issue archived before this migration: until escalating, with the floor.
ALTER TABLE issues ADD COLUMN archive TEXT;
-- While archived for a duration: when it ends, for the periodic sweep.
ALTER TABLE issues ADD COLUMN archive_expires_at INTEGER;
CREATE INDEX issues_archive_expires ON issues (archive_expires_at) WHERE archive_expires_at IS NOT NULL;
-- The latest regression or escalation of the issues still so; their last event otherwise.
UPDATE issues SET substatus_changed_at = coalesce(
    (SELECT max(a.created_at) FROM issue_activity a
     WHERE a.issue_id = issues.id AND a.kind IN ('regression', 'escalation')),
    last_seen)
WHERE substatus IN ('regressed', 'escalating');
