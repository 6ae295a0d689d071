//! Mesher's storage layer.
//!
//! Everything Mesher keeps lives behind capability traits ([`OrgStore`], [`ProjectStore`],
//! [`KeyStore`], [`UserStore`], [`TokenStore`], [`EventStore`], [`IssueStore`], [`OutcomeStore`], [`AdminStore`]); a server holds one
//! `Arc<dyn Store>` that implements them all. Two backends implement every trait:
//!
//! - [`SqliteStore`]: the embedded default, one file in the data directory (WAL mode);
//! - [`PostgresStore`]: a shared server, for several Mesher nodes.
//!
//! Each backend embeds its own migrations (`migrations/<backend>/`), applied by
//! [`AdminStore::migrate`]. One conformance suite (`tests/conformance.rs`) runs against both and
//! is the proof that they behave the same.
#![warn(missing_docs)]

mod alert_model;
mod archive;
mod artifact_model;
mod batch_plan;
mod cluster;
mod cluster_sql;
mod error;
mod event_model;
mod hll;
mod issue_period;
mod lifecycle;
mod model;
mod outcome;
mod postgres;
mod query;
mod release_model;
mod release_order;
mod retention;
mod rollup;
mod sqlite;
mod tag_breakdown;
#[cfg(feature = "testing")]
pub mod testing;
mod time_util;
mod top_walk;
mod traits;
mod url;
mod users;

use std::sync::Arc;

pub use alert_model::*;
pub use artifact_model::*;
#[cfg(feature = "testing")]
pub use batch_plan::plan_new_batch;
pub use cluster::{
    BusSubscription, ClusterStore, JobRun, Lease, NodeBeat, NodeRecord, OverflowEvent,
};
pub use error::{StoreError, StoreResult};
pub use event_model::*;
pub use model::*;
pub use outcome::{ACCEPTED, CAPPED, DISCARDED, OutcomeCount, outcome_hour};
pub use postgres::PostgresStore;
pub use query::*;
pub use release_model::*;
pub use retention::{ProjectStorage, Upkeep};
pub use sqlite::SqliteStore;
pub use time_util::{now, to_millis};
pub use traits::*;
pub use url::{DatabaseUrl, DatabaseUrlError, redact};

/// Opens the database a URL names. Does not migrate.
pub async fn connect(url: &DatabaseUrl) -> StoreResult<Arc<dyn Store>> {
    Ok(match url {
        DatabaseUrl::Sqlite(path) => Arc::new(SqliteStore::open(path).await?),
        DatabaseUrl::Postgres(url) => Arc::new(PostgresStore::connect(url).await?),
    })
}
