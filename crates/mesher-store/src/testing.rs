//! Isolated databases for tests (feature `testing`).
//!
//! Every test gets its own database: a fresh SQLite file in a temporary directory, or a fresh
//! schema in the PostgreSQL named by `MESHER_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`), dropped when the [`TestDb`] is dropped.
//! When PostgreSQL is unreachable the test panics with a message saying so: tests never skip.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::{AdminStore, PostgresStore, SqliteStore, Store};

/// The server the PostgreSQL tests use unless `MESHER_TEST_DATABASE_URL` says otherwise.
pub const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A temporary SQLite file.
    Sqlite,
    /// A temporary PostgreSQL schema.
    Postgres,
}

/// A migrated, empty database of its own.
pub struct TestDb {
    store: Arc<dyn Store>,
    url: String,
    schema: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

/// The base URL of the test PostgreSQL server.
pub fn test_database_url() -> String {
    std::env::var("MESHER_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.into())
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    /// A database on `backend`.
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => TestDb::sqlite().await,
            Backend::Postgres => TestDb::postgres().await,
        }
    }

    /// A migrated SQLite database in a temporary directory.
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let path = dir.path().join("mesher.db");
        let store = SqliteStore::open(&path).await.expect("open SQLite");
        store.migrate().await.expect("migrate SQLite");
        TestDb {
            store: Arc::new(store),
            url: format!("sqlite://{}", path.display()),
            schema: None,
            _dir: Some(dir),
        }
    }

    /// A migrated PostgreSQL schema of its own.
    ///
    /// # Panics
    /// When the test server is unreachable: PostgreSQL tests must not pass silently.
    pub async fn postgres() -> TestDb {
        let base = test_database_url();
        let schema = format!(
            "mesher_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or_default()
        );
        let admin = PostgresStore::connect(&base).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL tests need a server at {} (set MESHER_TEST_DATABASE_URL, or start it \
                 with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`): {e}",
                crate::redact(&base)
            )
        });
        admin
            .execute_raw(&format!("CREATE SCHEMA {schema}"))
            .await
            .expect("create the test schema");
        let url = with_search_path(&base, &schema);
        let store = PostgresStore::connect(&url)
            .await
            .expect("connect to the test schema");
        store.migrate().await.expect("migrate PostgreSQL");
        TestDb {
            store: Arc::new(store),
            url,
            schema: Some(schema),
            _dir: None,
        }
    }

    /// The store.
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// A `database_url` that reaches this same database from another process.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// Adds `options=-c search_path=SCHEMA` to a PostgreSQL URL.
pub fn with_search_path(base: &str, schema: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-c%20search_path%3D{schema}")
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(schema) = self.schema.take() else {
            return;
        };
        // Drop cannot await, and may run inside a runtime: clean up on a thread of its own, and
        // do not wait for it. A server of the test may still hold a transaction in this schema
        // (a sweep step cut short), which only the test's runtime can end: waiting here would
        // block that runtime's thread, and the drop would wait on the lock forever.
        let base = test_database_url();
        std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(admin) = PostgresStore::connect(&base).await {
                    let _ = admin
                        .execute_raw(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                        .await;
                }
            });
        });
        // A cleanup that fails, or has not finished when the test process exits, leaves a
        // schema behind; scripts/test drops leftovers.
    }
}
