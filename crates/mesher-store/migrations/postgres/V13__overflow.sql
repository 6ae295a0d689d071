-- Issue 14 (CLUSTER-03, CLUSTER-05): events a busy node hands to its peers. The row is the
-- event, normalized, durable before the sender answers 2xx; a peer claims rows for a while
-- (`FOR UPDATE SKIP LOCKED`), stores them through its own pipeline (idempotent by event id)
-- and deletes them; a claim that lapses (the peer died) is taken again.
CREATE TABLE overflow (
    id BIGSERIAL PRIMARY KEY,
    project_id BIGINT NOT NULL,
    origin TEXT NOT NULL,
    payload BYTEA NOT NULL,
    created_ms BIGINT NOT NULL,
    claimed_by TEXT,
    claimed_until_ms BIGINT
);
