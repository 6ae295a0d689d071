-- Issue 14: events a busy node hands to its peers (see the PostgreSQL migration). SQLite runs
-- one node, which never hands events off; the table keeps both schemas alike.
CREATE TABLE overflow (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id BIGINT NOT NULL,
    origin TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_ms BIGINT NOT NULL,
    claimed_by TEXT,
    claimed_until_ms BIGINT
);
