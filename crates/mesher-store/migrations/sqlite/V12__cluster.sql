-- Issue 14: the cluster registry, leases for jobs that run once per cluster, and the record of
-- those runs. Times are milliseconds since the Unix epoch, written by the nodes' clocks, so
-- that the same statements serve both backends and tests control time.
CREATE TABLE nodes (
    name TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    version TEXT NOT NULL,
    started_ms BIGINT NOT NULL,
    heartbeat_ms BIGINT NOT NULL,
    interval_ms BIGINT NOT NULL,
    events_per_second DOUBLE PRECISION NOT NULL DEFAULT 0,
    queue_depth BIGINT NOT NULL DEFAULT 0,
    handed_off BIGINT NOT NULL DEFAULT 0,
    taken_over BIGINT NOT NULL DEFAULT 0,
    services TEXT NOT NULL DEFAULT '[]'
);

CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL
);

CREATE TABLE job_runs (
    job TEXT NOT NULL,
    slot BIGINT NOT NULL,
    epoch BIGINT NOT NULL,
    node TEXT NOT NULL,
    ran_ms BIGINT NOT NULL,
    PRIMARY KEY (job, slot)
);
