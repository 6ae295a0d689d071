-- Source map artifacts (issue 18). `artifact_chunks`: the pieces `sentry-cli` uploads, named by
-- the SHA-1 of their bytes, kept until a bundle made of them is assembled (or swept after a
-- day). `artifact_files`: the assembled bundles' files per project, each a minified source or
-- a source map, found by debug ID or by release and URL; content is zstd-compressed.
CREATE TABLE artifact_chunks (
    org_id     INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    checksum   TEXT NOT NULL,
    data       BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, checksum)
);

CREATE TABLE artifact_files (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id     INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    bundle_id      TEXT NOT NULL,
    kind           TEXT NOT NULL,
    url            TEXT NOT NULL,
    debug_id       TEXT,
    sourcemap_url  TEXT,
    release        TEXT,
    dist           TEXT,
    size           INTEGER NOT NULL,
    content        BLOB NOT NULL,
    created_at     INTEGER NOT NULL
);
CREATE INDEX artifact_files_by_debug_id ON artifact_files (project_id, debug_id, kind);
CREATE INDEX artifact_files_by_url ON artifact_files (project_id, release, url);
CREATE INDEX artifact_files_by_age ON artifact_files (project_id, created_at);
