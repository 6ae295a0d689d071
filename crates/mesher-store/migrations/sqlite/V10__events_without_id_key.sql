-- Issue 13: PostgreSQL drops the primary key index of events.id, which no query reads alone.
-- On SQLite the id is the rowid (the table itself, shared with events_fts): nothing to change.
SELECT 1;
