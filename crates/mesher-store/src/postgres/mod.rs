//! The multi-node backend: a shared PostgreSQL database, pooled connections.

mod accounts;
mod alerts;
mod artifacts;
mod cluster;
mod credentials;
mod events;
mod invitations;
mod issues;
mod outcomes;
mod partitions;
mod queries;
mod releases;
mod retention;
mod search;
mod storage;
mod top_issues;
mod users;
mod vacuum;
mod write_arrays;

use std::str::FromStr;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

use crate::traits::{AdminStore, BootstrapPlan, Bootstrapped};
use crate::{StoreError, StoreResult};

mod embedded {
    refinery::embed_migrations!("migrations/postgres");
}

/// Arbitrary constant naming the advisory lock that serializes migrations across nodes.
const MIGRATION_LOCK: i64 = 0x6d65_7368_6572_0001;

const POOL_SIZE: usize = 16;

/// A PostgreSQL database.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    target: String,
    config: tokio_postgres::Config,
    /// The cluster bus's channel (see `ClusterStore::publish`).
    channel: String,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("target", &self.target)
            .finish()
    }
}

impl PostgresStore {
    /// Connects to the server named by a libpq-style URL and checks that it answers.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let config = tokio_postgres::Config::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("invalid PostgreSQL URL: {e}")))?;
        Self::connect_with(config).await
    }

    /// Connects with an explicit configuration (tests use it to pin a schema).
    pub async fn connect_with(config: tokio_postgres::Config) -> StoreResult<Self> {
        let target = describe(&config);
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(std::time::Duration::from_secs(10)))
            .create_timeout(Some(std::time::Duration::from_secs(5)))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let mut store = PostgresStore {
            pool,
            target,
            config,
            channel: String::new(),
        };
        store.ping().await.map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot connect to PostgreSQL at {}: {}",
                store.target,
                e.to_string().trim_start_matches("database unavailable: ")
            ))
        })?;
        // The same expression as `bump_epoch`'s, which names the channel inside SQL.
        let channel: String = store
            .conn()
            .await?
            .query_one(BUS_CHANNEL_SQL, &[])
            .await
            .map_err(map_err)?
            .get(0);
        store.channel = channel;
        Ok(store)
    }

    /// The cluster bus's channel.
    pub(crate) fn channel(&self) -> &str {
        &self.channel
    }

    /// The connection settings (for sessions outside the pool).
    pub(crate) fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    /// A pooled connection.
    pub(crate) async fn conn(&self) -> StoreResult<deadpool_postgres::Object> {
        self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => map_err(e),
            other => StoreError::Unavailable(other.to_string()),
        })
    }
}

/// `host:port/db` for messages; never the password.
fn describe(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}/{}", config.get_dbname().unwrap_or(""))
}

/// Maps driver errors: lost connections and server shutdowns are transient.
pub(crate) fn map_err(e: tokio_postgres::Error) -> StoreError {
    if e.is_closed() {
        return StoreError::Unavailable(e.to_string());
    }
    match e.code() {
        None => StoreError::Unavailable(flatten(&e)),
        Some(
            c @ (&SqlState::ADMIN_SHUTDOWN
            | &SqlState::CRASH_SHUTDOWN
            | &SqlState::CANNOT_CONNECT_NOW
            | &SqlState::TOO_MANY_CONNECTIONS
            | &SqlState::DISK_FULL),
        ) => StoreError::Unavailable(format!("{} ({})", flatten(&e), c.code())),
        Some(_) => StoreError::Database(flatten(&e)),
    }
}

/// The error and its source on one line (the driver's Display alone says only "db error").
fn flatten(e: &tokio_postgres::Error) -> String {
    match std::error::Error::source(e) {
        Some(src) => format!("{e}: {src}"),
        None => e.to_string(),
    }
}

/// The cluster bus's channel of the connection's schema (see `ClusterStore::publish`).
const BUS_CHANNEL_SQL: &str = "SELECT left('mesher_bus_' || current_schema(), 63)";

/// Marks a change that caches must notice (see `AdminStore::config_epoch`).
pub(crate) async fn bump_epoch(c: &impl tokio_postgres::GenericClient) -> StoreResult<()> {
    c.execute(
        // The bus message goes out when the transaction commits, so that every node drops
        // its caches at once (a revoked key stops working cluster-wide at the commit).
        "WITH bumped AS (INSERT INTO instance_meta (key, value) VALUES ('config_epoch', '1') \
         ON CONFLICT (key) DO UPDATE SET value = (instance_meta.value::bigint + 1)::text \
         RETURNING value) \
         SELECT pg_notify(left('mesher_bus_' || current_schema(), 63), \
           '{\"v\":1,\"type\":\"config\",\"epoch\":' || value || '}') \
         FROM bumped",
        &[],
    )
    .await
    .map(|_| ())
    .map_err(map_err)
}

pub(crate) fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

pub(crate) fn is_fk_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION)
}

#[async_trait]
impl AdminStore for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn migrate(&self) -> StoreResult<()> {
        let mut conn = self.conn().await?;
        // Nodes starting together would otherwise race to create the same tables.
        conn.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(map_err)?;
        let client: &mut tokio_postgres::Client = &mut conn;
        let result = embedded::migrations::runner()
            .run_async(client)
            .await
            .map(|_| ())
            .map_err(|e| StoreError::Migration(e.to_string()));
        conn.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(map_err)?;
        result
    }

    async fn ping(&self) -> StoreResult<()> {
        let conn = self.conn().await?;
        conn.simple_query("SELECT 1").await.map_err(map_err)?;
        Ok(())
    }

    async fn config_epoch(&self) -> StoreResult<i64> {
        let conn = self.conn().await?;
        let stmt = conn
            .prepare_cached("SELECT value FROM instance_meta WHERE key = 'config_epoch'")
            .await
            .map_err(map_err)?;
        let row = conn.query_opt(&stmt, &[]).await.map_err(map_err)?;
        Ok(row
            .and_then(|r| r.get::<_, String>(0).parse().ok())
            .unwrap_or(0))
    }

    async fn meta(&self, key: &str) -> StoreResult<Option<String>> {
        let conn = self.conn().await?;
        let stmt = conn
            .prepare_cached("SELECT value FROM instance_meta WHERE key = $1")
            .await
            .map_err(map_err)?;
        let row = conn.query_opt(&stmt, &[&key]).await.map_err(map_err)?;
        Ok(row.map(|r| r.get::<_, String>(0)))
    }

    async fn set_meta(&self, key: &str, value: &str) -> StoreResult<()> {
        let conn = self.conn().await?;
        conn.execute(
            "INSERT INTO instance_meta (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            &[&key, &value],
        )
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn bootstrap(&self, plan: &BootstrapPlan<'_>) -> StoreResult<Option<Bootstrapped>> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(map_err)?;
        let now = crate::time_util::now();
        // The insert is the claim: a concurrent first start blocks on the key until this
        // transaction ends, then inserts nothing.
        let claimed = tx
            .execute(
                "INSERT INTO instance_meta (key, value) VALUES ('bootstrapped', $1) \
                 ON CONFLICT (key) DO NOTHING",
                &[&now.to_string()],
            )
            .await
            .map_err(map_err)?;
        let orgs: i64 = tx
            .query_one("SELECT count(*) FROM organizations", &[])
            .await
            .map_err(map_err)?
            .get(0);
        if claimed == 0 || orgs > 0 {
            tx.commit().await.map_err(map_err)?;
            return Ok(None);
        }
        let done = accounts::bootstrap_in(&*tx, plan, now).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(Some(done))
    }
}

impl PostgresStore {
    /// Runs one statement outside any transaction (schema management in tests and tools).
    pub async fn execute_raw(&self, sql: &str) -> StoreResult<()> {
        let conn = self.conn().await?;
        conn.batch_execute(sql).await.map_err(map_err)
    }
}
