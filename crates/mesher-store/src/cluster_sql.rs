//! The cluster tables' statements, written once for both backends: PostgreSQL's `$n`
//! placeholders, which SQLite reads as `?n` once [`sqlite`] rewrites them.

/// Registers a node, replacing an earlier run of the same name.
pub(crate) const REGISTER: &str = "INSERT INTO nodes (name, address, version, started_ms, \
     heartbeat_ms, interval_ms, events_per_second, queue_depth, handed_off, taken_over, services) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
     ON CONFLICT (name) DO UPDATE SET address = excluded.address, version = excluded.version, \
     started_ms = excluded.started_ms, heartbeat_ms = excluded.heartbeat_ms, \
     interval_ms = excluded.interval_ms, events_per_second = excluded.events_per_second, \
     queue_depth = excluded.queue_depth, handed_off = excluded.handed_off, \
     taken_over = excluded.taken_over, services = excluded.services";

/// A heartbeat.
pub(crate) const BEAT: &str = "UPDATE nodes SET heartbeat_ms = $2, events_per_second = $3, \
     queue_depth = $4, handed_off = $5, taken_over = $6, services = $7 WHERE name = $1";

pub(crate) const DEREGISTER: &str = "DELETE FROM nodes WHERE name = $1";

pub(crate) const NODES: &str = "SELECT name, address, version, started_ms, heartbeat_ms, \
     interval_ms, events_per_second, queue_depth, handed_off, taken_over, services \
     FROM nodes ORDER BY name";

/// Takes a free or lapsed lease (a new epoch) or renews one's own live lease (the same epoch).
/// $1 name, $2 holder, $3 now, $4 new expiry.
pub(crate) const TRY_LEASE: &str = "INSERT INTO leases (name, holder, epoch, expires_ms) \
     VALUES ($1, $2, 1, $4) \
     ON CONFLICT (name) DO UPDATE SET \
       epoch = CASE WHEN leases.holder = excluded.holder AND leases.expires_ms > $3 \
                    THEN leases.epoch ELSE leases.epoch + 1 END, \
       holder = excluded.holder, expires_ms = excluded.expires_ms \
     WHERE leases.holder = excluded.holder OR leases.expires_ms <= $3 \
     RETURNING epoch";

/// $1 name, $2 holder, $3 now.
pub(crate) const RELEASE_LEASE: &str =
    "UPDATE leases SET expires_ms = $3 WHERE name = $1 AND holder = $2 AND expires_ms > $3";

pub(crate) const LEASE: &str = "SELECT name, holder, epoch, expires_ms FROM leases WHERE name = $1";

/// The fence: the lease is still the claimant's, under the epoch it ran with, unexpired.
/// $1 lease, $2 holder, $3 epoch, $4 now.
pub(crate) const FENCE: &str = "SELECT 1 FROM leases \
     WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_ms > $4";

/// $1 job, $2 slot, $3 epoch, $4 node, $5 ran.
pub(crate) const CLAIM_RUN: &str = "INSERT INTO job_runs (job, slot, epoch, node, ran_ms) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (job, slot) DO NOTHING";

pub(crate) const JOB_RUNS: &str =
    "SELECT job, slot, epoch, node, ran_ms FROM job_runs WHERE job = $1 ORDER BY slot";

pub(crate) const PRUNE_RUNS: &str = "DELETE FROM job_runs WHERE ran_ms < $1";

/// $1 project, $2 origin, $3 payload, $4 now.
pub(crate) const PUSH_OVERFLOW: &str =
    "INSERT INTO overflow (project_id, origin, payload, created_ms) VALUES ($1, $2, $3, $4)";

/// $1 node, $2 now, $3 claimed until, $4 own events after, $5 limit; `{lock}` is PostgreSQL's
/// `FOR UPDATE SKIP LOCKED` (SQLite has one writer at a time and needs none).
pub(crate) fn claim_overflow(lock: &str) -> String {
    format!(
        "UPDATE overflow SET claimed_by = $1, claimed_until_ms = $3 WHERE id IN (\
           SELECT id FROM overflow \
           WHERE (claimed_until_ms IS NULL OR claimed_until_ms <= $2) \
             AND (origin <> $1 OR created_ms <= $4) \
           ORDER BY id LIMIT $5 {lock}) \
         RETURNING id, project_id, origin, payload"
    )
}

pub(crate) const DELETE_OVERFLOW: &str = "DELETE FROM overflow WHERE id = $1 AND claimed_by = $2";

pub(crate) const OVERFLOW_DEPTH: &str = "SELECT COUNT(*) FROM overflow";

/// The statement with `$n` placeholders as SQLite's `?n`.
pub(crate) fn sqlite(sql: &str) -> String {
    sql.replace('$', "?")
}
