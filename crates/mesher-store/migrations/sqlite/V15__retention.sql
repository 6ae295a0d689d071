-- Issue 17: retention and storage used (RETAIN-01 … RETAIN-03).
--
-- What each event takes on disk, estimated when it is written (the row, its index entries and
-- its full-text postings: see `sqlite/storage.rs`), kept on the row so that deleting it takes
-- back exactly what writing it added to its project's `storage_bytes`.
ALTER TABLE events ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;
-- Events written before this migration: the same estimate without the full-text postings,
-- which are not kept in the row.
UPDATE events SET bytes = length(payload) + length(CAST(title AS BLOB)) + length(CAST(tags AS BLOB))
    + coalesce(length(CAST(environment AS BLOB)), 0) + coalesce(length(CAST(release AS BLOB)), 0)
    + 190;
ALTER TABLE projects ADD COLUMN storage_bytes INTEGER NOT NULL DEFAULT 0;
UPDATE projects SET storage_bytes =
    (SELECT coalesce(sum(bytes), 0) FROM events WHERE events.project_id = projects.id);
-- Events with a timestamp before this instant (ms) have been deleted by retention: the issue
-- pages say so, and an issue first seen before it knows some of its events are gone.
ALTER TABLE projects ADD COLUMN events_expired_before INTEGER;
