//! Source maps for the processor (issue 18): before an event is grouped, the maps of its
//! minified JavaScript files are found (by debug ID, else by release and URL), parsed once and
//! kept in memory within a byte bound, and its frames rewritten to the original source.
//!
//! A map found missing is remembered for a short while only, so that a map uploaded just
//! after a deploy applies to the next events within seconds; a map that arrives later does not
//! rewrite events already stored (they carry a note saying so).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mesher_protocol::Event;
use mesher_protocol::sourcemaps::{self, Needed, SourceMapFile};
use mesher_store::{SourceMapArtifact, Store};
use quick_cache::Weighter;
use quick_cache::sync::Cache;

/// Memory the parsed maps of a node may hold.
const CACHE_BYTES: u64 = 256 * 1024 * 1024;
/// The cache's expected entries: few, so that it keeps few shards (each shard holds its share
/// of [`CACHE_BYTES`] and silently refuses a heavier entry; a real bundle's map weighs MiBs).
const CACHE_ITEMS: usize = 64;
/// Most files one event may have maps looked up for (each a query on a cache miss).
const MAX_FILES_PER_EVENT: usize = 16;
/// How long "no map for this file" is believed.
const MISSING_FOR: Duration = Duration::from_secs(10);
/// How long a parsed map is used before it is read again: a map uploaded again under the same
/// release and URL replaces the old one on every node within this.
const FOUND_FOR: Duration = Duration::from_secs(600);
/// Maps larger than this are parsed on the blocking pool, not on a runtime thread.
const INLINE_PARSE_BYTES: usize = 256 * 1024;

/// What is looked up: a debug ID, or a release's file by URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    DebugId(i64, String),
    Url {
        project_id: i64,
        release: String,
        dist: Option<String>,
        url: String,
    },
}

/// A lookup's result: the parsed map, or none (as of when).
#[derive(Clone)]
enum Found {
    Map(Arc<SourceMapFile>, Instant),
    Missing(Instant),
}

#[derive(Clone)]
struct ByCost;

impl Weighter<Key, Found> for ByCost {
    fn weight(&self, _: &Key, found: &Found) -> u64 {
        match found {
            Found::Map(file, _) => file.cost() as u64,
            Found::Missing(_) => 64,
        }
    }
}

/// Finds and applies source maps; one per node, shared by the processor's workers.
pub struct SourceMaps {
    store: Arc<dyn Store>,
    cache: Cache<Key, Found, ByCost>,
}

impl SourceMaps {
    /// Maps read from `store`.
    pub fn new(store: Arc<dyn Store>) -> SourceMaps {
        SourceMaps {
            store,
            cache: Cache::with_weighter(CACHE_ITEMS, CACHE_BYTES, ByCost),
        }
    }

    /// Forgets what was looked up: called when maps were uploaded to this node, so that the
    /// next events use them at once (other nodes' "none there" lasts at most [`MISSING_FOR`]).
    pub fn forget(&self) {
        self.cache.clear();
    }

    /// Rewrites the JavaScript frames of `event` (of `project_id`) with the maps of their files.
    /// A map that cannot be read or fetched leaves its frames as they are.
    pub async fn apply(&self, project_id: i64, event: &mut Event) {
        let needed = sourcemaps::needed(event);
        if needed.is_empty() {
            return;
        }
        let mut maps = HashMap::with_capacity(needed.len());
        for n in needed.into_iter().take(MAX_FILES_PER_EVENT) {
            let file = self.find(project_id, event, &n).await;
            maps.insert(n.abs_path, file);
        }
        sourcemaps::apply(event, &maps);
    }

    async fn find(
        &self,
        project_id: i64,
        event: &Event,
        needed: &Needed,
    ) -> Option<Arc<SourceMapFile>> {
        if let Some(id) = &needed.debug_id
            && let Some(file) = self.lookup(Key::DebugId(project_id, id.clone())).await
        {
            return Some(file);
        }
        // No debug ID, or no map under it: the release's file at that URL, as Sentry tries.
        let key = Key::Url {
            project_id,
            release: event.release.clone()?,
            dist: event.dist.clone(),
            url: tilde_url(&needed.abs_path)?,
        };
        self.lookup(key).await
    }

    /// The map under `key`, from the cache or the store.
    async fn lookup(&self, key: Key) -> Option<Arc<SourceMapFile>> {
        match self.cache.get(&key) {
            Some(Found::Map(file, at)) if at.elapsed() < FOUND_FOR => return Some(file),
            Some(Found::Missing(at)) if at.elapsed() < MISSING_FOR => return None,
            _ => {}
        }
        let fetched = match &key {
            Key::DebugId(project_id, id) => {
                self.store.source_map_by_debug_id(*project_id, id).await
            }
            Key::Url {
                project_id,
                release,
                dist,
                url,
            } => {
                self.store
                    .source_map_by_url(*project_id, release, dist.as_deref(), url)
                    .await
            }
        };
        let artifact = match fetched {
            Ok(found) => found,
            Err(e) => {
                // Not remembered: the next event tries again.
                tracing::warn!(error = %e, "cannot read a source map");
                return None;
            }
        };
        let found = match artifact {
            None => Found::Missing(Instant::now()),
            Some(artifact) => match parse(artifact).await {
                Some(file) => Found::Map(Arc::new(file), Instant::now()),
                None => Found::Missing(Instant::now()),
            },
        };
        self.cache.insert(key, found.clone());
        match found {
            Found::Map(file, _) => Some(file),
            Found::Missing(_) => None,
        }
    }
}

async fn parse(artifact: SourceMapArtifact) -> Option<SourceMapFile> {
    let large =
        artifact.map.len() + artifact.minified.as_ref().map_or(0, Vec::len) > INLINE_PARSE_BYTES;
    let run = move || {
        SourceMapFile::parse(
            &artifact.map,
            artifact.minified.as_deref(),
            &artifact.map_url,
        )
        .inspect_err(|e| tracing::warn!(error = %e, url = %artifact.map_url, "stored source map"))
        .ok()
    };
    if large {
        tokio::task::spawn_blocking(run).await.ok().flatten()
    } else {
        run()
    }
}

/// The bundle URL (`~/path`) of a frame's file: its path on any origin, as `sentry-cli`
/// names uploaded files. `None` for what is not a URL.
fn tilde_url(abs_path: &str) -> Option<String> {
    let url = url::Url::parse(abs_path).ok()?;
    match url.scheme() {
        "http" | "https" | "app" => {}
        _ => return None,
    }
    let path = url.path();
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    Some(format!("~{path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_name_their_files_as_bundles_do() {
        assert_eq!(
            tilde_url("https://cdn.example.com/static/app.min.js?v=3").as_deref(),
            Some("~/static/app.min.js")
        );
        assert_eq!(
            tilde_url("app:///dist/index.js").as_deref(),
            Some("~/dist/index.js")
        );
        assert_eq!(tilde_url("/srv/app/dist/index.js"), None);
    }
}
