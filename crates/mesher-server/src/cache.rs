//! Caches of DSN keys and project settings, consulted by every ingest request.
//!
//! Entries stay until the store's config epoch changes: it moves whenever a key or a project's
//! settings change, whether through this node, another node or the CLI. The epoch is read at
//! most once per [`EPOCH_CHECK`], so a revoked key stops working within that interval and a
//! request never waits on the database for a key it has seen before.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mesher_store::{KeyLookup, Project, Store, StoreResult};

/// How often the config epoch is compared.
pub const EPOCH_CHECK: Duration = Duration::from_secs(1);

/// Most entries of each kind; beyond it the cache starts over (unknown keys sent by scanners
/// must not grow memory without bound).
const MAX_ENTRIES: usize = 100_000;

/// Key → project and project → settings, invalidated by the config epoch.
pub struct ProjectCache {
    store: Arc<dyn Store>,
    inner: Mutex<Inner>,
}

struct Inner {
    keys: HashMap<String, Option<KeyLookup>>,
    projects: HashMap<i64, Option<Arc<Project>>>,
    epoch: i64,
    checked: Option<Instant>,
}

impl ProjectCache {
    /// An empty cache over `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        ProjectCache {
            store,
            inner: Mutex::new(Inner {
                keys: HashMap::new(),
                projects: HashMap::new(),
                epoch: i64::MIN,
                checked: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The critical sections below cannot panic; recover the data if one ever did.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops every entry when the epoch moved since the last check.
    async fn revalidate(&self) -> StoreResult<()> {
        let due = self
            .lock()
            .checked
            .is_none_or(|at| at.elapsed() >= EPOCH_CHECK);
        if !due {
            return Ok(());
        }
        let epoch = self.store.config_epoch().await?;
        let mut inner = self.lock();
        if inner.epoch != epoch {
            inner.keys.clear();
            inner.projects.clear();
            inner.epoch = epoch;
        }
        inner.checked = Some(Instant::now());
        Ok(())
    }

    /// Forgets everything now (after a change made through this node).
    pub fn invalidate(&self) {
        let mut inner = self.lock();
        inner.keys.clear();
        inner.projects.clear();
        inner.checked = None;
    }

    /// The project and revocation state of a DSN public key.
    pub async fn key(&self, public_key: &str) -> StoreResult<Option<KeyLookup>> {
        self.revalidate().await?;
        if let Some(hit) = self.lock().keys.get(public_key) {
            return Ok(hit.clone());
        }
        let found = self.store.lookup_key(public_key).await?;
        let mut inner = self.lock();
        if inner.keys.len() >= MAX_ENTRIES {
            inner.keys.clear();
        }
        inner.keys.insert(public_key.to_string(), found.clone());
        Ok(found)
    }

    /// A project's settings.
    pub async fn project(&self, id: i64) -> StoreResult<Option<Arc<Project>>> {
        self.revalidate().await?;
        if let Some(hit) = self.lock().projects.get(&id) {
            return Ok(hit.clone());
        }
        let found = self.store.project(id).await?.map(Arc::new);
        let mut inner = self.lock();
        if inner.projects.len() >= MAX_ENTRIES {
            inner.projects.clear();
        }
        inner.projects.insert(id, found.clone());
        Ok(found)
    }
}
