//! Multi-row statements for the group commit (issue 13): one statement per chunk of rows
//! instead of one per row, which saves SQLite's per-statement work (reset, bind, step, the
//! virtual machine's setup) on the statements a batch repeats most.

use rusqlite::{ToSql, Transaction};

use super::map_err;
use crate::StoreResult;

/// Rows per statement. At most 6 values a row keeps a chunk far below SQLite's parameter limit
/// (32,766).
const CHUNK: usize = 128;

/// Runs `head VALUES (?, …), (?, …) … tail` over `values`, `width` of them per row, in chunks;
/// answers the rows changed. A full chunk's statement is cached (every batch reuses it), a
/// remainder's prepared for the call, so the statement cache holds one statement per kind.
pub(super) fn execute(
    tx: &Transaction<'_>,
    head: &str,
    tail: &str,
    width: usize,
    values: &[&dyn ToSql],
) -> StoreResult<usize> {
    debug_assert_eq!(values.len() % width, 0);
    let row = format!("({})", vec!["?"; width].join(", "));
    let mut changed = 0;
    for chunk in values.chunks(width * CHUNK) {
        let rows = chunk.len() / width;
        let sql = format!(
            "{head} VALUES {}{}",
            vec![row.as_str(); rows].join(", "),
            tail
        );
        changed += if rows == CHUNK {
            tx.prepare_cached(&sql).map_err(map_err)?.execute(chunk)
        } else {
            tx.prepare(&sql).map_err(map_err)?.execute(chunk)
        }
        .map_err(map_err)?;
    }
    Ok(changed)
}
