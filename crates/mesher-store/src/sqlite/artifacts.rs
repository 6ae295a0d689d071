//! Source map artifacts on SQLite (issue 18).

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;

use super::{SqliteStore, map_err};
use crate::StoreResult;
use crate::artifact_model::{ArtifactKind, NewBundle, SourceMapArtifact};
use crate::event_model::{compress_payload, decompress_payload};
use crate::time_util::to_millis;
use crate::traits::ArtifactStore;

/// The newest source map with `debug_id` and the minified file of the same ID.
fn by_debug_id(
    c: &Connection,
    project_id: i64,
    debug_id: &str,
) -> StoreResult<Option<SourceMapArtifact>> {
    let newest = |kind: ArtifactKind| {
        c.prepare_cached(
            "SELECT url, content FROM artifact_files \
             WHERE project_id = ?1 AND debug_id = ?2 AND kind = ?3 ORDER BY id DESC LIMIT 1",
        )
        .map_err(map_err)?
        .query_row(params![project_id, debug_id, kind.as_str()], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
        })
        .optional()
        .map_err(map_err)
    };
    let Some((map_url, map)) = newest(ArtifactKind::SourceMap)? else {
        return Ok(None);
    };
    let minified = newest(ArtifactKind::MinifiedSource)?;
    Ok(Some(SourceMapArtifact {
        map_url,
        map: decompress_payload(&map)?,
        minified: minified.map(|(_, m)| decompress_payload(&m)).transpose()?,
    }))
}

/// The newest file of a release, dist and kind at `url`: (content, its map's URL).
fn by_url(
    c: &Connection,
    project_id: i64,
    (release, dist): (&str, Option<&str>),
    url: &str,
    kind: ArtifactKind,
) -> StoreResult<Option<(Vec<u8>, Option<String>)>> {
    let row = c
        .prepare_cached(
            "SELECT content, sourcemap_url FROM artifact_files \
             WHERE project_id = ?1 AND release = ?2 AND url = ?3 AND kind = ?4 \
             AND dist IS ?5 ORDER BY id DESC LIMIT 1",
        )
        .map_err(map_err)?
        .query_row(
            params![project_id, release, url, kind.as_str(), dist],
            |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Option<String>>(1)?)),
        )
        .optional()
        .map_err(map_err)?;
    row.map(|(content, map_url)| Ok((decompress_payload(&content)?, map_url)))
        .transpose()
}

#[async_trait]
impl ArtifactStore for SqliteStore {
    async fn put_chunks(
        &self,
        org_id: i64,
        chunks: &[(String, Vec<u8>)],
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let chunks = chunks.to_vec();
        self.transact(move |tx| {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO artifact_chunks (org_id, checksum, data, created_at) \
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                )
                .map_err(map_err)?;
            for (checksum, data) in &chunks {
                stmt.execute(params![org_id, checksum, data, to_millis(now)])
                    .map_err(map_err)?;
            }
            Ok(())
        })
        .await
    }

    async fn pending_chunk_bytes(&self, org_id: i64) -> StoreResult<u64> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT coalesce(sum(length(data)), 0) FROM artifact_chunks WHERE org_id = ?1",
            )
            .map_err(map_err)?
            .query_row(params![org_id], |r| r.get::<_, i64>(0))
            .map_err(map_err)
            .map(|n| u64::try_from(n).unwrap_or(0))
        })
        .await
    }

    async fn missing_chunks(&self, org_id: i64, checksums: &[String]) -> StoreResult<Vec<String>> {
        let checksums = checksums.to_vec();
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached("SELECT 1 FROM artifact_chunks WHERE org_id = ?1 AND checksum = ?2")
                .map_err(map_err)?;
            let mut missing = Vec::new();
            for checksum in checksums {
                if !stmt.exists(params![org_id, checksum]).map_err(map_err)? {
                    missing.push(checksum);
                }
            }
            Ok(missing)
        })
        .await
    }

    async fn chunks(&self, org_id: i64, checksums: &[String]) -> StoreResult<Option<Vec<Vec<u8>>>> {
        let checksums = checksums.to_vec();
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT data FROM artifact_chunks WHERE org_id = ?1 AND checksum = ?2",
                )
                .map_err(map_err)?;
            let mut out = Vec::with_capacity(checksums.len());
            for checksum in checksums {
                match stmt
                    .query_row(params![org_id, checksum], |r| r.get::<_, Vec<u8>>(0))
                    .optional()
                    .map_err(map_err)?
                {
                    Some(data) => out.push(data),
                    None => return Ok(None),
                }
            }
            Ok(Some(out))
        })
        .await
    }

    async fn store_bundle(&self, bundle: &NewBundle<'_>) -> StoreResult<()> {
        let files = bundle.files.to_vec();
        let (org_id, projects, chunks) = (
            bundle.org_id,
            bundle.project_ids.to_vec(),
            bundle.chunks.to_vec(),
        );
        let (bundle_id, release, dist) = (
            bundle.bundle_id.to_string(),
            bundle.release.map(str::to_string),
            bundle.dist.map(str::to_string),
        );
        let now = to_millis(bundle.now);
        self.transact(move |tx| {
            // Compressed here, on the connection's thread, not on the caller's runtime thread.
            let files: Vec<_> = files
                .iter()
                .map(|f| (f, compress_payload(&f.content)))
                .collect();
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO artifact_files (project_id, bundle_id, kind, url, debug_id, \
                     sourcemap_url, release, dist, size, content, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )
                .map_err(map_err)?;
            for project_id in &projects {
                for (file, compressed) in &files {
                    insert
                        .execute(params![
                            project_id,
                            bundle_id,
                            file.kind.as_str(),
                            file.url,
                            file.debug_id,
                            file.sourcemap_url,
                            release,
                            dist,
                            i64::try_from(file.content.len()).unwrap_or(i64::MAX),
                            compressed,
                            now
                        ])
                        .map_err(map_err)?;
                }
            }
            let mut delete = tx
                .prepare_cached("DELETE FROM artifact_chunks WHERE org_id = ?1 AND checksum = ?2")
                .map_err(map_err)?;
            for checksum in &chunks {
                delete.execute(params![org_id, checksum]).map_err(map_err)?;
            }
            Ok(())
        })
        .await
    }

    async fn source_map_by_debug_id(
        &self,
        project_id: i64,
        debug_id: &str,
    ) -> StoreResult<Option<SourceMapArtifact>> {
        let debug_id = debug_id.to_string();
        self.read(move |c| by_debug_id(c, project_id, &debug_id))
            .await
    }

    async fn source_map_by_url(
        &self,
        project_id: i64,
        release: &str,
        dist: Option<&str>,
        url: &str,
    ) -> StoreResult<Option<SourceMapArtifact>> {
        let (release, dist, url) = (
            release.to_string(),
            dist.map(str::to_string),
            url.to_string(),
        );
        self.read(move |c| {
            let key = (release.as_str(), dist.as_deref());
            let Some((minified, Some(map_url))) =
                by_url(c, project_id, key, &url, ArtifactKind::MinifiedSource)?
            else {
                return Ok(None);
            };
            Ok(
                by_url(c, project_id, key, &map_url, ArtifactKind::SourceMap)?.map(|(map, _)| {
                    SourceMapArtifact {
                        map_url,
                        map,
                        minified: Some(minified),
                    }
                }),
            )
        })
        .await
    }

    async fn expire_artifacts(&self, project_id: i64, before: OffsetDateTime) -> StoreResult<u64> {
        self.transact(move |tx| {
            tx.execute(
                "DELETE FROM artifact_files WHERE project_id = ?1 AND created_at < ?2",
                params![project_id, to_millis(before)],
            )
            .map(|n| n as u64)
            .map_err(map_err)
        })
        .await
    }

    async fn expire_chunks(&self, before: OffsetDateTime) -> StoreResult<u64> {
        self.transact(move |tx| {
            tx.execute(
                "DELETE FROM artifact_chunks WHERE created_at < ?1",
                params![to_millis(before)],
            )
            .map(|n| n as u64)
            .map_err(map_err)
        })
        .await
    }
}
