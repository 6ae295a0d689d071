//! The embedded backend: one SQLite file in WAL mode.
//!
//! Reads go through a small pool of connections; every write goes through a single writer
//! connection so that writers never contend with each other inside the process (SQLite allows
//! one writer at a time anyway, and a second writer would only spin on `SQLITE_BUSY`). Other
//! processes (the CLI next to a running server) are handled by `busy_timeout` and by starting
//! write transactions with `BEGIN IMMEDIATE`, which takes the write lock up front instead of
//! failing when a read transaction tries to upgrade.

mod accounts;
mod alerts;
mod artifacts;
mod cluster;
mod credentials;
mod events;
mod invitations;
mod issues;
mod multi_row;
mod outcomes;
mod queries;
mod releases;
mod retention;
mod storage;
mod top_issues;
mod users;

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use deadpool_sqlite::{Config, Hook, HookError, Pool, Runtime};
use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior};

use crate::traits::{AdminStore, BootstrapPlan, Bootstrapped};
use crate::{StoreError, StoreResult};

mod embedded {
    refinery::embed_migrations!("migrations/sqlite");
}

/// Connection settings applied to every connection.
///
/// `synchronous = NORMAL` in WAL mode keeps every committed transaction across a crash of the
/// process (`kill -9`), which is the durability promise of a 2xx; only an operating-system crash
/// or power loss can lose the last transactions. `FULL` would fsync on every commit and cost
/// about an order of magnitude of write throughput for a guarantee a monitoring tool rarely needs.
///
/// `auto_vacuum = INCREMENTAL` comes first: it only takes effect on a file without tables (a new
/// database), and lets retention give deleted events' pages back to the file system in bounded
/// steps (RETAIN-02). Files created before it are rebuilt once by `migrate`.
const PRAGMAS: &str = "
    PRAGMA auto_vacuum = INCREMENTAL;
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = NORMAL;
    PRAGMA foreign_keys = ON;
    PRAGMA busy_timeout = 5000;
    PRAGMA temp_store = MEMORY;
    PRAGMA cache_size = -16000;
";

const READ_POOL_SIZE: usize = 4;

/// Prepared statements each connection keeps. rusqlite's default of 16 is fewer than one group
/// commit uses (about a dozen single-row statements plus each multi-row statement in up to eight
/// sizes), and an evicted statement is parsed and planned again on the next batch: that was 6 %
/// of the server's CPU at half the maximum ingest rate (issue 13).
const STATEMENT_CACHE: usize = 256;

/// A SQLite database file.
#[derive(Clone)]
pub struct SqliteStore {
    path: PathBuf,
    readers: Pool,
    writer: Pool,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and its parent directory.
    ///
    /// Does not migrate: call [`AdminStore::migrate`].
    pub async fn open(path: &Path) -> StoreResult<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        let readers = build_pool(path, READ_POOL_SIZE)?;
        let writer = build_pool(path, 1)?;
        let store = SqliteStore {
            path: path.to_path_buf(),
            readers,
            writer,
        };
        // Open one connection now so that a bad path fails at start, not at the first request.
        store
            .write(|conn| conn.query_row("SELECT 1", [], |_| Ok(())).map_err(map_err))
            .await
            .map_err(|e| match e {
                StoreError::Unavailable(m) | StoreError::Database(m) => StoreError::Unavailable(
                    format!("cannot open SQLite database {}: {m}", path.display()),
                ),
                other => other,
            })?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a reader connection, off the async runtime.
    pub(crate) async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        run(&self.readers, f).await
    }

    /// Runs `f` on the writer connection, off the async runtime.
    pub(crate) async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        run(&self.writer, f).await
    }

    /// Runs `f` inside an immediate write transaction, committed when `f` succeeds.
    pub(crate) async fn transact<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: FnOnce(&rusqlite::Transaction<'_>) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        self.write(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_err)?;
            let out = f(&tx)?;
            tx.commit().map_err(map_err)?;
            Ok(out)
        })
        .await
    }
}

fn build_pool(path: &Path, size: usize) -> StoreResult<Pool> {
    Config::new(path)
        .builder(Runtime::Tokio1)
        .map_err(|e| StoreError::Unavailable(e.to_string()))?
        .max_size(size)
        .post_create(Hook::async_fn(|conn, _| {
            Box::pin(async move {
                conn.interact(|c| {
                    c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
                    c.execute_batch(PRAGMAS)
                })
                .await
                .map_err(|e| HookError::message(e.to_string()))?
                .map_err(HookError::Backend)
            })
        }))
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))
}

async fn run<T, F>(pool: &Pool, f: F) -> StoreResult<T>
where
    F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    T: Send + 'static,
{
    let conn = pool.get().await.map_err(|e| match e {
        deadpool_sqlite::PoolError::Backend(e) => map_err(e),
        other => StoreError::Unavailable(other.to_string()),
    })?;
    conn.interact(f)
        .await
        .map_err(|e| StoreError::Database(format!("SQLite worker failed: {e}")))?
}

/// Marks a change that caches must notice (see `AdminStore::config_epoch`).
pub(crate) fn bump_epoch(tx: &rusqlite::Transaction<'_>) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO instance_meta (key, value) VALUES ('config_epoch', '1') \
         ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)",
        [],
    )
    .map(|_| ())
    .map_err(map_err)
}

/// Maps SQLite errors to the store's: lock and disk trouble is transient, the rest is not.
///
/// Constraint violations are mapped by the caller, which knows what the constraint means.
pub(crate) fn map_err(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::DiskFull
            | ErrorCode::SystemIoFailure
            | ErrorCode::CannotOpen
            | ErrorCode::OutOfMemory,
        ) => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Database(e.to_string()),
    }
}

/// True when `e` violates a UNIQUE or PRIMARY KEY constraint.
pub(crate) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

/// True when `e` violates a FOREIGN KEY constraint.
pub(crate) fn is_fk_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY
    )
}

#[async_trait]
impl AdminStore for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn migrate(&self) -> StoreResult<()> {
        self.write(|conn| {
            embedded::migrations::runner()
                .run(conn)
                .map_err(|e| StoreError::Migration(e.to_string()))?;
            // A file from before incremental vacuum: one full rebuild switches it on, after
            // which retention can shrink the file step by step.
            let mode: i64 = conn
                .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
                .map_err(map_err)?;
            if mode != 2 {
                tracing::info!("rebuilding the SQLite file once for incremental vacuum");
                conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL; VACUUM;")
                    .map_err(map_err)?;
            }
            Ok(())
        })
        .await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.read(|conn| conn.query_row("SELECT 1", [], |_| Ok(())).map_err(map_err))
            .await
    }

    async fn config_epoch(&self) -> StoreResult<i64> {
        self.read(|conn| {
            conn.prepare_cached("SELECT value FROM instance_meta WHERE key = 'config_epoch'")
                .map_err(map_err)?
                .query_row([], |r| r.get::<_, String>(0))
                .optional()
                .map_err(map_err)
                .map(|v| v.and_then(|v| v.parse().ok()).unwrap_or(0))
        })
        .await
    }

    async fn meta(&self, key: &str) -> StoreResult<Option<String>> {
        let key = key.to_owned();
        self.read(move |conn| {
            conn.prepare_cached("SELECT value FROM instance_meta WHERE key = ?1")
                .map_err(map_err)?
                .query_row([&key], |r| r.get::<_, String>(0))
                .optional()
                .map_err(map_err)
        })
        .await
    }

    async fn set_meta(&self, key: &str, value: &str) -> StoreResult<()> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO instance_meta (key, value) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .map_err(map_err)?
            .execute([&key, &value])
            .map_err(map_err)
            .map(|_| ())
        })
        .await
    }

    async fn bootstrap(&self, plan: &BootstrapPlan<'_>) -> StoreResult<Option<Bootstrapped>> {
        let plan = accounts::OwnedPlan::from(plan);
        self.transact(move |tx| {
            let done: Option<String> = tx
                .query_row(
                    "SELECT value FROM instance_meta WHERE key = 'bootstrapped'",
                    [],
                    |r| r.get(0),
                )
                .optional()
                .map_err(map_err)?;
            let orgs: i64 = tx
                .query_row("SELECT count(*) FROM organizations", [], |r| r.get(0))
                .map_err(map_err)?;
            let now = crate::time_util::now();
            tx.execute(
                "INSERT OR IGNORE INTO instance_meta (key, value) VALUES ('bootstrapped', ?1)",
                [now.to_string()],
            )
            .map_err(map_err)?;
            if done.is_some() || orgs > 0 {
                return Ok(None);
            }
            accounts::bootstrap_in(tx, &plan, now).map(Some)
        })
        .await
    }
}
