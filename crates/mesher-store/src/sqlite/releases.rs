//! Releases on SQLite as a build pipeline sees them (issue 18): declared ahead of their events
//! (`sentry-cli releases new`), their deploys and their commits.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};
use time::OffsetDateTime;

use super::{SqliteStore, map_err};
use crate::StoreResult;
use crate::release_model::{Deploy, NewDeploy, ProjectRelease, ReleaseCommit};
use crate::time_util::{from_millis, to_millis};
use crate::traits::ReleaseStore;

/// The rows of `table` (deploys or commits) of one release.
fn count_rows(c: &Connection, table: &str, org_id: i64, version: &str) -> StoreResult<u64> {
    let n: i64 = c
        .prepare_cached(&format!(
            "SELECT count(*) FROM {table} WHERE org_id = ?1 AND version = ?2"
        ))
        .map_err(map_err)?
        .query_row(params![org_id, version], |r| r.get(0))
        .map_err(map_err)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

const RELEASE_COLUMNS: &str = "version, first_seen, date_released";

fn release(r: &Row<'_>) -> rusqlite::Result<ProjectRelease> {
    Ok(ProjectRelease {
        version: r.get(0)?,
        first_seen: from_millis(r.get(1)?),
        date_released: r.get::<_, Option<i64>>(2)?.map(from_millis),
    })
}

const DEPLOY_COLUMNS: &str = "id, version, environment, name, url, date_started, date_finished";

fn deploy(r: &Row<'_>) -> rusqlite::Result<Deploy> {
    Ok(Deploy {
        id: r.get(0)?,
        version: r.get(1)?,
        environment: r.get(2)?,
        name: r.get(3)?,
        url: r.get(4)?,
        date_started: r.get::<_, Option<i64>>(5)?.map(from_millis),
        date_finished: from_millis(r.get(6)?),
    })
}

/// A commit from the row's columns from `at` on, in [`COMMIT_COLUMNS`]' order.
fn commit(r: &Row<'_>, at: usize) -> rusqlite::Result<ReleaseCommit> {
    Ok(ReleaseCommit {
        id: r.get(at)?,
        repository: r.get(at + 1)?,
        message: r.get(at + 2)?,
        author_name: r.get(at + 3)?,
        author_email: r.get(at + 4)?,
        timestamp: r.get::<_, Option<i64>>(at + 5)?.map(from_millis),
    })
}

const COMMIT_COLUMNS: &str =
    "commit_id, repository, message, author_name, author_email, committed_at";

#[async_trait]
impl ReleaseStore for SqliteStore {
    async fn declare_release(
        &self,
        project_id: i64,
        version: &str,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let version = version.to_string();
        self.transact(move |tx| {
            let added = tx
                .execute(
                    "INSERT OR IGNORE INTO releases (project_id, version, first_seen) \
                     VALUES (?1, ?2, ?3)",
                    params![project_id, version, to_millis(at)],
                )
                .map_err(map_err)?;
            Ok(added == 1)
        })
        .await
    }

    async fn project_release(
        &self,
        project_id: i64,
        version: &str,
    ) -> StoreResult<Option<ProjectRelease>> {
        let version = version.to_string();
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {RELEASE_COLUMNS} FROM releases WHERE project_id = ?1 AND version = ?2"
            ))
            .map_err(map_err)?
            .query_row(params![project_id, version], release)
            .optional()
            .map_err(map_err)
        })
        .await
    }

    async fn project_releases(
        &self,
        project_id: i64,
        limit: usize,
    ) -> StoreResult<Vec<ProjectRelease>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {RELEASE_COLUMNS} FROM releases WHERE project_id = ?1 \
                 ORDER BY first_seen DESC, version DESC LIMIT ?2"
            ))
            .map_err(map_err)?
            .query_map(params![project_id, limit], release)
            .map_err(map_err)?
            .collect::<Result<_, _>>()
            .map_err(map_err)
        })
        .await
    }

    async fn finalize_release(
        &self,
        project_id: i64,
        version: &str,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let version = version.to_string();
        self.transact(move |tx| {
            let changed = tx
                .execute(
                    "UPDATE releases SET date_released = ?3 WHERE project_id = ?1 AND version = ?2",
                    params![project_id, version, to_millis(at)],
                )
                .map_err(map_err)?;
            Ok(changed == 1)
        })
        .await
    }

    async fn add_deploy(&self, d: &NewDeploy<'_>) -> StoreResult<Deploy> {
        let (org_id, version, environment) =
            (d.org_id, d.version.to_string(), d.environment.to_string());
        let (name, url) = (d.name.map(str::to_string), d.url.map(str::to_string));
        let (started, finished) = (d.date_started.map(to_millis), to_millis(d.date_finished));
        self.transact(move |tx| {
            tx.query_row(
                &format!(
                    "INSERT INTO deploys (org_id, version, environment, name, url, date_started, \
                     date_finished) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING {DEPLOY_COLUMNS}"
                ),
                params![org_id, version, environment, name, url, started, finished],
                deploy,
            )
            .map_err(map_err)
        })
        .await
    }

    async fn deploys(&self, org_id: i64, version: &str, limit: usize) -> StoreResult<Vec<Deploy>> {
        let version = version.to_string();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {DEPLOY_COLUMNS} FROM deploys WHERE org_id = ?1 AND version = ?2 \
                 ORDER BY id DESC LIMIT ?3"
            ))
            .map_err(map_err)?
            .query_map(params![org_id, version, limit], deploy)
            .map_err(map_err)?
            .collect::<Result<_, _>>()
            .map_err(map_err)
        })
        .await
    }

    async fn deploy_summary(
        &self,
        org_id: i64,
        version: &str,
    ) -> StoreResult<(u64, Option<Deploy>)> {
        let version = version.to_string();
        self.read(move |c| {
            let count = count_rows(c, "deploys", org_id, &version)?;
            let last = c
                .prepare_cached(&format!(
                    "SELECT {DEPLOY_COLUMNS} FROM deploys WHERE org_id = ?1 AND version = ?2 \
                     ORDER BY id DESC LIMIT 1"
                ))
                .map_err(map_err)?
                .query_row(params![org_id, version], deploy)
                .optional()
                .map_err(map_err)?;
            Ok((count, last))
        })
        .await
    }

    async fn set_release_commits(
        &self,
        org_id: i64,
        version: &str,
        commits: &[ReleaseCommit],
    ) -> StoreResult<()> {
        let version = version.to_string();
        let commits = commits.to_vec();
        self.transact(move |tx| {
            tx.execute(
                "DELETE FROM release_commits WHERE org_id = ?1 AND version = ?2",
                params![org_id, version],
            )
            .map_err(map_err)?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO release_commits (org_id, version, position, commit_id, \
                     repository, message, author_name, author_email, committed_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(map_err)?;
            for (position, c) in commits.iter().enumerate() {
                insert
                    .execute(params![
                        org_id,
                        version,
                        i64::try_from(position).unwrap_or(i64::MAX),
                        c.id,
                        c.repository,
                        c.message,
                        c.author_name,
                        c.author_email,
                        c.timestamp.map(to_millis),
                    ])
                    .map_err(map_err)?;
            }
            Ok(())
        })
        .await
    }

    async fn release_commits(&self, org_id: i64, version: &str) -> StoreResult<Vec<ReleaseCommit>> {
        let version = version.to_string();
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {COMMIT_COLUMNS} FROM release_commits WHERE org_id = ?1 AND version = ?2 \
                 ORDER BY position"
            ))
            .map_err(map_err)?
            .query_map(params![org_id, version], |r| commit(r, 0))
            .map_err(map_err)?
            .collect::<Result<_, _>>()
            .map_err(map_err)
        })
        .await
    }

    async fn commit_summary(
        &self,
        org_id: i64,
        version: &str,
    ) -> StoreResult<(u64, Option<ReleaseCommit>)> {
        let version = version.to_string();
        self.read(move |c| {
            let count = count_rows(c, "release_commits", org_id, &version)?;
            let newest = c
                .prepare_cached(&format!(
                    "SELECT {COMMIT_COLUMNS} FROM release_commits \
                     WHERE org_id = ?1 AND version = ?2 AND position = 0"
                ))
                .map_err(map_err)?
                .query_row(params![org_id, version], |r| commit(r, 0))
                .optional()
                .map_err(map_err)?;
            Ok((count, newest))
        })
        .await
    }

    async fn previous_release_with_commits(
        &self,
        org_id: i64,
        version: &str,
    ) -> StoreResult<Option<(String, ReleaseCommit)>> {
        let version = version.to_string();
        self.read(move |c| {
            c.prepare_cached(&format!(
                "WITH firsts AS ( \
                   SELECT r.version, min(r.first_seen) AS first_seen FROM releases r \
                   JOIN projects p ON p.id = r.project_id WHERE p.org_id = ?1 \
                   GROUP BY r.version), \
                 cur AS (SELECT coalesce( \
                   (SELECT first_seen FROM firsts WHERE version = ?2), 9223372036854775807) AS t) \
                 SELECT f.version, {COMMIT_COLUMNS} FROM firsts f CROSS JOIN cur \
                 JOIN release_commits c ON c.org_id = ?1 AND c.version = f.version \
                   AND c.position = 0 \
                 WHERE f.version <> ?2 AND (f.first_seen < cur.t \
                   OR (f.first_seen = cur.t AND f.version < ?2)) \
                 ORDER BY f.first_seen DESC, f.version DESC LIMIT 1"
            ))
            .map_err(map_err)?
            .query_row(params![org_id, version], |r| Ok((r.get(0)?, commit(r, 1)?)))
            .optional()
            .map_err(map_err)
        })
        .await
    }
}
