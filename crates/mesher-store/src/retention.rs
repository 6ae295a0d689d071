//! Retention and storage used (RETAIN-01 … RETAIN-03): what the sweeper asks of a store and
//! what a project's storage figures are.

use serde::Serialize;
use time::OffsetDateTime;

/// What a project's stored events take, and how far retention has deleted them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProjectStorage {
    /// Events stored now.
    pub events: i64,
    /// Bytes those events take in the database: rows, index entries and full-text postings,
    /// estimated when each event is written and taken back when it is deleted.
    pub bytes: i64,
    /// Events with a timestamp before this instant were deleted by retention (`None`: none
    /// has expired yet).
    #[serde(with = "time::serde::rfc3339::option")]
    pub expired_before: Option<OffsetDateTime>,
}

/// One step of storage upkeep after expiry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Upkeep {
    /// Partitions dropped whole (PostgreSQL), by name.
    pub dropped: Vec<String>,
    /// Partitions created ahead of time (PostgreSQL), by name.
    pub created: Vec<String>,
    /// Free pages given back to the file system (SQLite).
    pub pages_released: u64,
    /// Tables vacuumed or analyzed because autovacuum is off and its thresholds were passed
    /// (PostgreSQL), by name.
    pub vacuumed: Vec<String>,
    /// Whether another step has more to do (SQLite: free pages are left).
    pub more: bool,
}
