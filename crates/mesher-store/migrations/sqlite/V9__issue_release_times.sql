-- The timestamp of the event an issue's last release and last environment come from (issue 12,
-- row 11): a late event with an older timestamp must not replace them, whichever batch it
-- arrives in. Existing issues take their last_seen: their values stand until a later event.
-- "Resolved in next release" now compares versions of one package as versions and other
-- releases by first_seen (issue 12, row 3); the comment on issues.resolved_in_release in V2
-- predates that.
ALTER TABLE issues ADD COLUMN last_release_at INTEGER;
ALTER TABLE issues ADD COLUMN last_environment_at INTEGER;
UPDATE issues SET last_release_at = last_seen WHERE last_release IS NOT NULL;
UPDATE issues SET last_environment_at = last_seen WHERE last_environment IS NOT NULL;
