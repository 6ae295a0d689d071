//! Source map artifacts on PostgreSQL (issue 18).

use async_trait::async_trait;
// deadpool's trait: it has the connection's statement cache (`prepare_cached`).
use deadpool_postgres::GenericClient;
use time::OffsetDateTime;

use super::{PostgresStore, map_err};
use crate::artifact_model::{ArtifactKind, NewBundle, SourceMapArtifact};
use crate::event_model::{compress_payload, decompress_payload};
use crate::traits::ArtifactStore;
use crate::{StoreError, StoreResult};

/// The newest file of a release, dist and kind at `url`: (content, its map's URL).
async fn by_url(
    c: &impl GenericClient,
    project_id: i64,
    (release, dist): (&str, Option<&str>),
    url: &str,
    kind: ArtifactKind,
) -> StoreResult<Option<(Vec<u8>, Option<String>)>> {
    let stmt = c
        .prepare_cached(
            "SELECT content, sourcemap_url FROM artifact_files \
             WHERE project_id = $1 AND release = $2 AND url = $3 AND kind = $4 \
             AND dist IS NOT DISTINCT FROM $5 ORDER BY id DESC LIMIT 1",
        )
        .await
        .map_err(map_err)?;
    let row = c
        .query_opt(&stmt, &[&project_id, &release, &url, &kind.as_str(), &dist])
        .await
        .map_err(map_err)?;
    row.map(|r| {
        let content: Vec<u8> = r.get(0);
        Ok((decompress_payload(&content)?, r.get(1)))
    })
    .transpose()
}

#[async_trait]
impl ArtifactStore for PostgresStore {
    async fn put_chunks(
        &self,
        org_id: i64,
        chunks: &[(String, Vec<u8>)],
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let conn = self.conn().await?;
        let stmt = conn
            .prepare_cached(
                "INSERT INTO artifact_chunks (org_id, checksum, data, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .await
            .map_err(map_err)?;
        for (checksum, data) in chunks {
            conn.execute(&stmt, &[&org_id, checksum, data, &now])
                .await
                .map_err(map_err)?;
        }
        Ok(())
    }

    async fn pending_chunk_bytes(&self, org_id: i64) -> StoreResult<u64> {
        let conn = self.conn().await?;
        let n: i64 = conn
            .query_one(
                "SELECT coalesce(sum(octet_length(data)), 0)::BIGINT FROM artifact_chunks \
                 WHERE org_id = $1",
                &[&org_id],
            )
            .await
            .map_err(map_err)?
            .get(0);
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn missing_chunks(&self, org_id: i64, checksums: &[String]) -> StoreResult<Vec<String>> {
        let conn = self.conn().await?;
        let rows = conn
            .query(
                "SELECT checksum FROM artifact_chunks WHERE org_id = $1 AND checksum = ANY($2)",
                &[&org_id, &checksums],
            )
            .await
            .map_err(map_err)?;
        let present: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        Ok(checksums
            .iter()
            .filter(|c| !present.contains(c))
            .cloned()
            .collect())
    }

    async fn chunks(&self, org_id: i64, checksums: &[String]) -> StoreResult<Option<Vec<Vec<u8>>>> {
        let conn = self.conn().await?;
        let rows = conn
            .query(
                "SELECT checksum, data FROM artifact_chunks \
                 WHERE org_id = $1 AND checksum = ANY($2)",
                &[&org_id, &checksums],
            )
            .await
            .map_err(map_err)?;
        let found: Vec<(String, Vec<u8>)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        Ok(checksums
            .iter()
            .map(|c| {
                found
                    .iter()
                    .find(|(checksum, _)| checksum == c)
                    .map(|(_, data)| data.clone())
            })
            .collect())
    }

    async fn store_bundle(&self, bundle: &NewBundle<'_>) -> StoreResult<()> {
        // Compressing megabytes is work for the blocking pool, not for a runtime thread.
        let files = bundle.files.to_vec();
        let compressed = tokio::task::spawn_blocking(move || {
            files
                .iter()
                .map(|f| (compress_payload(&f.content), f.content.len()))
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| StoreError::Database(format!("compressing artifacts: {e}")))?;
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(map_err)?;
        let insert = tx
            .prepare_cached(
                "INSERT INTO artifact_files (project_id, bundle_id, kind, url, debug_id, \
                 sourcemap_url, release, dist, size, content, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .await
            .map_err(map_err)?;
        for (file, (compressed, size)) in bundle.files.iter().zip(&compressed) {
            let size = i64::try_from(*size).map_err(|_| StoreError::Invalid {
                field: "content",
                message: "too large".into(),
            })?;
            for project_id in bundle.project_ids {
                tx.execute(
                    &insert,
                    &[
                        project_id,
                        &bundle.bundle_id,
                        &file.kind.as_str(),
                        &file.url,
                        &file.debug_id,
                        &file.sourcemap_url,
                        &bundle.release,
                        &bundle.dist,
                        &size,
                        compressed,
                        &bundle.now,
                    ],
                )
                .await
                .map_err(map_err)?;
            }
        }
        tx.execute(
            "DELETE FROM artifact_chunks WHERE org_id = $1 AND checksum = ANY($2)",
            &[&bundle.org_id, &bundle.chunks],
        )
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)
    }

    async fn source_map_by_debug_id(
        &self,
        project_id: i64,
        debug_id: &str,
    ) -> StoreResult<Option<SourceMapArtifact>> {
        let conn = self.conn().await?;
        let stmt = conn
            .prepare_cached(
                "SELECT url, content FROM artifact_files \
                 WHERE project_id = $1 AND debug_id = $2 AND kind = $3 ORDER BY id DESC LIMIT 1",
            )
            .await
            .map_err(map_err)?;
        let newest = async |kind: ArtifactKind| {
            conn.query_opt(&stmt, &[&project_id, &debug_id, &kind.as_str()])
                .await
                .map_err(map_err)
                .map(|row| row.map(|r| (r.get::<_, String>(0), r.get::<_, Vec<u8>>(1))))
        };
        let Some((map_url, map)) = newest(ArtifactKind::SourceMap).await? else {
            return Ok(None);
        };
        let minified = newest(ArtifactKind::MinifiedSource).await?;
        Ok(Some(SourceMapArtifact {
            map_url,
            map: decompress_payload(&map)?,
            minified: minified.map(|(_, m)| decompress_payload(&m)).transpose()?,
        }))
    }

    async fn source_map_by_url(
        &self,
        project_id: i64,
        release: &str,
        dist: Option<&str>,
        url: &str,
    ) -> StoreResult<Option<SourceMapArtifact>> {
        let conn = self.conn().await?;
        let key = (release, dist);
        let Some((minified, Some(map_url))) =
            by_url(&conn, project_id, key, url, ArtifactKind::MinifiedSource).await?
        else {
            return Ok(None);
        };
        Ok(
            by_url(&conn, project_id, key, &map_url, ArtifactKind::SourceMap)
                .await?
                .map(|(map, _)| SourceMapArtifact {
                    map_url,
                    map,
                    minified: Some(minified),
                }),
        )
    }

    async fn expire_artifacts(&self, project_id: i64, before: OffsetDateTime) -> StoreResult<u64> {
        let conn = self.conn().await?;
        conn.execute(
            "DELETE FROM artifact_files WHERE project_id = $1 AND created_at < $2",
            &[&project_id, &before],
        )
        .await
        .map_err(map_err)
    }

    async fn expire_chunks(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let conn = self.conn().await?;
        conn.execute(
            "DELETE FROM artifact_chunks WHERE created_at < $1",
            &[&before],
        )
        .await
        .map_err(map_err)
    }
}
