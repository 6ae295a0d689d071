//! Releases on PostgreSQL as a build pipeline sees them (issue 18): declared ahead of their
//! events (`sentry-cli releases new`), their deploys and their commits.

use async_trait::async_trait;
use time::OffsetDateTime;
use tokio_postgres::Row;

use super::{PostgresStore, map_err};
use crate::StoreResult;
use crate::release_model::{Deploy, NewDeploy, ProjectRelease, ReleaseCommit};
use crate::traits::ReleaseStore;

const RELEASE_COLUMNS: &str = "version, first_seen, date_released";

fn release(r: &Row) -> ProjectRelease {
    ProjectRelease {
        version: r.get(0),
        first_seen: r.get(1),
        date_released: r.get(2),
    }
}

const DEPLOY_COLUMNS: &str = "id, version, environment, name, url, date_started, date_finished";

fn deploy(r: &Row) -> Deploy {
    Deploy {
        id: r.get(0),
        version: r.get(1),
        environment: r.get(2),
        name: r.get(3),
        url: r.get(4),
        date_started: r.get(5),
        date_finished: r.get(6),
    }
}

const COMMIT_COLUMNS: &str =
    "commit_id, repository, message, author_name, author_email, committed_at";

/// A commit from the row's columns from `at` on, in [`COMMIT_COLUMNS`]' order.
fn commit(r: &Row, at: usize) -> ReleaseCommit {
    ReleaseCommit {
        id: r.get(at),
        repository: r.get(at + 1),
        message: r.get(at + 2),
        author_name: r.get(at + 3),
        author_email: r.get(at + 4),
        timestamp: r.get(at + 5),
    }
}

/// The rows of `table` (deploys or commits) of one release.
async fn count_rows(
    conn: &tokio_postgres::Client,
    table: &str,
    org_id: i64,
    version: &str,
) -> StoreResult<u64> {
    let n: i64 = conn
        .query_one(
            &format!("SELECT count(*) FROM {table} WHERE org_id = $1 AND version = $2"),
            &[&org_id, &version],
        )
        .await
        .map_err(map_err)?
        .get(0);
    Ok(u64::try_from(n).unwrap_or(0))
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[async_trait]
impl ReleaseStore for PostgresStore {
    async fn declare_release(
        &self,
        project_id: i64,
        version: &str,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let conn = self.conn().await?;
        let added = conn
            .execute(
                "INSERT INTO releases (project_id, version, first_seen) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
                &[&project_id, &version, &at],
            )
            .await
            .map_err(map_err)?;
        Ok(added == 1)
    }

    async fn project_release(
        &self,
        project_id: i64,
        version: &str,
    ) -> StoreResult<Option<ProjectRelease>> {
        let conn = self.conn().await?;
        let row = conn
            .query_opt(
                &format!(
                    "SELECT {RELEASE_COLUMNS} FROM releases WHERE project_id = $1 AND version = $2"
                ),
                &[&project_id, &version],
            )
            .await
            .map_err(map_err)?;
        Ok(row.as_ref().map(release))
    }

    async fn project_releases(
        &self,
        project_id: i64,
        n: usize,
    ) -> StoreResult<Vec<ProjectRelease>> {
        let conn = self.conn().await?;
        let rows = conn
            .query(
                &format!(
                    "SELECT {RELEASE_COLUMNS} FROM releases WHERE project_id = $1 \
                     ORDER BY first_seen DESC, version DESC LIMIT $2"
                ),
                &[&project_id, &limit(n)],
            )
            .await
            .map_err(map_err)?;
        Ok(rows.iter().map(release).collect())
    }

    async fn finalize_release(
        &self,
        project_id: i64,
        version: &str,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let conn = self.conn().await?;
        let changed = conn
            .execute(
                "UPDATE releases SET date_released = $3 WHERE project_id = $1 AND version = $2",
                &[&project_id, &version, &at],
            )
            .await
            .map_err(map_err)?;
        Ok(changed == 1)
    }

    async fn add_deploy(&self, d: &NewDeploy<'_>) -> StoreResult<Deploy> {
        let conn = self.conn().await?;
        let row = conn
            .query_one(
                &format!(
                    "INSERT INTO deploys (org_id, version, environment, name, url, date_started, \
                     date_finished) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {DEPLOY_COLUMNS}"
                ),
                &[
                    &d.org_id,
                    &d.version,
                    &d.environment,
                    &d.name,
                    &d.url,
                    &d.date_started,
                    &d.date_finished,
                ],
            )
            .await
            .map_err(map_err)?;
        Ok(deploy(&row))
    }

    async fn deploys(&self, org_id: i64, version: &str, n: usize) -> StoreResult<Vec<Deploy>> {
        let conn = self.conn().await?;
        let rows = conn
            .query(
                &format!(
                    "SELECT {DEPLOY_COLUMNS} FROM deploys WHERE org_id = $1 AND version = $2 \
                     ORDER BY id DESC LIMIT $3"
                ),
                &[&org_id, &version, &limit(n)],
            )
            .await
            .map_err(map_err)?;
        Ok(rows.iter().map(deploy).collect())
    }

    async fn deploy_summary(
        &self,
        org_id: i64,
        version: &str,
    ) -> StoreResult<(u64, Option<Deploy>)> {
        let conn = self.conn().await?;
        let count = count_rows(&conn, "deploys", org_id, version).await?;
        let last = conn
            .query_opt(
                &format!(
                    "SELECT {DEPLOY_COLUMNS} FROM deploys WHERE org_id = $1 AND version = $2 \
                     ORDER BY id DESC LIMIT 1"
                ),
                &[&org_id, &version],
            )
            .await
            .map_err(map_err)?;
        Ok((count, last.as_ref().map(deploy)))
    }

    async fn set_release_commits(
        &self,
        org_id: i64,
        version: &str,
        commits: &[ReleaseCommit],
    ) -> StoreResult<()> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(map_err)?;
        tx.execute(
            "DELETE FROM release_commits WHERE org_id = $1 AND version = $2",
            &[&org_id, &version],
        )
        .await
        .map_err(map_err)?;
        let insert = tx
            .prepare(
                "INSERT INTO release_commits (org_id, version, position, commit_id, repository, \
                 message, author_name, author_email, committed_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .await
            .map_err(map_err)?;
        for (position, c) in commits.iter().enumerate() {
            let position = i32::try_from(position).unwrap_or(i32::MAX);
            tx.execute(
                &insert,
                &[
                    &org_id,
                    &version,
                    &position,
                    &c.id,
                    &c.repository,
                    &c.message,
                    &c.author_name,
                    &c.author_email,
                    &c.timestamp,
                ],
            )
            .await
            .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    }

    async fn release_commits(&self, org_id: i64, version: &str) -> StoreResult<Vec<ReleaseCommit>> {
        let conn = self.conn().await?;
        let rows = conn
            .query(
                &format!(
                    "SELECT {COMMIT_COLUMNS} FROM release_commits \
                     WHERE org_id = $1 AND version = $2 ORDER BY position"
                ),
                &[&org_id, &version],
            )
            .await
            .map_err(map_err)?;
        Ok(rows.iter().map(|r| commit(r, 0)).collect())
    }

    async fn commit_summary(
        &self,
        org_id: i64,
        version: &str,
    ) -> StoreResult<(u64, Option<ReleaseCommit>)> {
        let conn = self.conn().await?;
        let count = count_rows(&conn, "release_commits", org_id, version).await?;
        let newest = conn
            .query_opt(
                &format!(
                    "SELECT {COMMIT_COLUMNS} FROM release_commits \
                     WHERE org_id = $1 AND version = $2 AND position = 0"
                ),
                &[&org_id, &version],
            )
            .await
            .map_err(map_err)?;
        Ok((count, newest.as_ref().map(|r| commit(r, 0))))
    }

    async fn previous_release_with_commits(
        &self,
        org_id: i64,
        version: &str,
    ) -> StoreResult<Option<(String, ReleaseCommit)>> {
        let conn = self.conn().await?;
        let row = conn
            .query_opt(
                &format!(
                    "WITH firsts AS ( \
                       SELECT r.version, min(r.first_seen) AS first_seen FROM releases r \
                       JOIN projects p ON p.id = r.project_id WHERE p.org_id = $1 \
                       GROUP BY r.version), \
                     cur AS (SELECT coalesce( \
                       (SELECT first_seen FROM firsts WHERE version = $2), 'infinity') AS t) \
                     SELECT f.version, {COMMIT_COLUMNS} FROM firsts f CROSS JOIN cur \
                     JOIN release_commits c ON c.org_id = $1 AND c.version = f.version \
                       AND c.position = 0 \
                     WHERE f.version <> $2 AND (f.first_seen < cur.t \
                       OR (f.first_seen = cur.t AND f.version < $2)) \
                     ORDER BY f.first_seen DESC, f.version DESC LIMIT 1"
                ),
                &[&org_id, &version],
            )
            .await
            .map_err(map_err)?;
        Ok(row.map(|r| (r.get(0), commit(&r, 1))))
    }
}
