//! Vacuuming where autovacuum is off (part of the storage upkeep).
//!
//! Every write batch updates its issues' rows and their counters (`issues`, `issue_tags`, the
//! hourly and per-minute rollups, the project's figures), so each leaves dead row versions
//! behind. Autovacuum clears them; a server run with `autovacuum = off` (some CI and
//! "tuned" set-ups do) never does, and the tables grow without bound. Measured in a soak at
//! 2,262 events/s on two nodes: `issues` held 794,000 dead versions of its 10,000 rows after
//! ten minutes (228 MB), and the dashboard's health query, which counts a project's unresolved
//! issues, went from 2 ms to 92 ms; one VACUUM brought it back to 2 ms.
//!
//! So, only when autovacuum is off, the upkeep does what it would: each table of Mesher's
//! schema past autovacuum's own thresholds (the server's `autovacuum_vacuum_threshold` and
//! `…_scale_factor` for dead rows, the `…_analyze_…` pair for rows changed since the last
//! ANALYZE) is vacuumed or analyzed, throttled by `autovacuum_vacuum_cost_delay` as autovacuum
//! is. `SKIP_LOCKED`: a table another session holds is left for the next upkeep rather than
//! waited for. Not modelled: the vacuum of insert-only tables (which only sets visibility
//! bits; Mesher's queries do not depend on index-only scans) and wraparound protection, which
//! PostgreSQL runs even with autovacuum off.

use tokio_postgres::error::SqlState;

use super::{PostgresStore, map_err};
use crate::StoreResult;

/// The tables of the current schema, owned by Mesher's role, that autovacuum would vacuum
/// (`true`) or only analyze (`false`) now, most dead rows first; none while autovacuum is on.
/// Partitioned parents have no rows of their own and never qualify; their partitions are
/// tables like any other.
const DUE: &str = "\
    WITH s AS (SELECT current_setting('autovacuum_vacuum_threshold')::float8 AS vt, \
                      current_setting('autovacuum_vacuum_scale_factor')::float8 AS vs, \
                      current_setting('autovacuum_analyze_threshold')::float8 AS at, \
                      current_setting('autovacuum_analyze_scale_factor')::float8 AS a_s) \
    SELECT t.relid::regclass::text, t.n_dead_tup > s.vt + s.vs * t.n_live_tup \
    FROM pg_stat_user_tables t JOIN pg_class c ON c.oid = t.relid, s \
    WHERE t.schemaname = current_schema() AND current_setting('autovacuum') = 'off' \
      AND pg_has_role(c.relowner, 'USAGE') \
      AND (t.n_dead_tup > s.vt + s.vs * t.n_live_tup \
           OR t.n_mod_since_analyze > s.at + s.a_s * t.n_live_tup) \
    ORDER BY t.n_dead_tup DESC";

/// Vacuums (with ANALYZE) or analyzes each table due, as autovacuum would; answers the names
/// of those it ran on. Nothing while autovacuum is on. A table whose vacuum fails (a
/// `statement_timeout`, say) is logged and skipped: expiry, which follows, must not wait on it.
pub(super) async fn vacuum_due(store: &PostgresStore) -> StoreResult<Vec<String>> {
    let conn = store.conn().await?;
    let due = conn.query(DUE, &[]).await.map_err(map_err)?;
    if due.is_empty() {
        return Ok(Vec::new());
    }
    conn.batch_execute(
        "SELECT set_config('vacuum_cost_delay', current_setting('autovacuum_vacuum_cost_delay'), false)",
    )
    .await
    .map_err(map_err)?;
    let mut done = Vec::with_capacity(due.len());
    for row in due {
        // `regclass::text` quotes the name where it needs it: safe to splice.
        let table: String = row.get(0);
        let vacuum: bool = row.get(1);
        let statement = if vacuum {
            format!("VACUUM (ANALYZE, SKIP_LOCKED) {table}")
        } else {
            format!("ANALYZE (SKIP_LOCKED) {table}")
        };
        match conn.batch_execute(&statement).await {
            Ok(()) => done.push(table),
            // Dropped since it was listed (a partition, a test's schema): nothing to do.
            Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => {}
            Err(e) if e.code().is_some() => {
                tracing::warn!(%table, error = %e, "vacuum in autovacuum's place failed");
            }
            Err(e) => return Err(map_err(e)),
        }
    }
    // Leave the pooled connection as it was.
    conn.batch_execute("RESET vacuum_cost_delay")
        .await
        .map_err(map_err)?;
    Ok(done)
}
