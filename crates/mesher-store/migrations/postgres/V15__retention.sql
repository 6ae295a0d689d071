-- Issue 17: retention and storage used (RETAIN-01 … RETAIN-03).
--
-- What each event takes on disk, estimated when it is written (the row, its TOASTed payload,
-- its index entries and its full-text vector: see `postgres/storage.rs`), kept on the row so
-- that deleting it takes back exactly what writing it added to its project's `storage_bytes`.
ALTER TABLE events ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;
-- Events written before this migration: the same estimate from the stored columns.
UPDATE events SET bytes = pg_column_size(payload) + octet_length(title) + pg_column_size(tags)
    + pg_column_size(search) + coalesce(octet_length(environment), 0)
    + coalesce(octet_length(release), 0) + 220;
ALTER TABLE projects ADD COLUMN storage_bytes BIGINT NOT NULL DEFAULT 0;
UPDATE projects p SET storage_bytes =
    (SELECT coalesce(sum(bytes), 0) FROM events e WHERE e.project_id = p.id);
-- Events with a timestamp before this instant have been deleted by retention: the issue pages
-- say so, and an issue first seen before it knows some of its events are gone.
ALTER TABLE projects ADD COLUMN events_expired_before TIMESTAMPTZ;
