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
/// answers the rows changed.
///
/// Full chunks take [`CHUNK`] rows; the remainder is split into powers of two (37 rows: 32, 4
/// and 1), so that every statement has one of eight shapes and each is prepared once per
/// connection and then reused from the statement cache. A batch of any size would otherwise
/// parse and plan a statement of its own size each time, which at light load (small batches of
/// varying size) is most statements.
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
    let mut rest = values;
    while !rest.is_empty() {
        let rows = chunk_rows(rest.len() / width);
        let (chunk, tail_values) = rest.split_at(rows * width);
        let sql = format!(
            "{head} VALUES {}{}",
            vec![row.as_str(); rows].join(", "),
            tail
        );
        changed += tx
            .prepare_cached(&sql)
            .map_err(map_err)?
            .execute(chunk)
            .map_err(map_err)?;
        rest = tail_values;
    }
    Ok(changed)
}

/// Rows of the next statement for `rows` rows left: a full chunk, else the largest power of two
/// that fits.
fn chunk_rows(rows: usize) -> usize {
    if rows >= CHUNK {
        CHUNK
    } else {
        1 << rows.ilog2()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_take_one_of_eight_sizes() {
        let sizes = |mut rows: usize| {
            let mut out = Vec::new();
            while rows > 0 {
                let n = chunk_rows(rows);
                out.push(n);
                rows -= n;
            }
            out
        };
        assert_eq!(sizes(1), [1]);
        assert_eq!(sizes(37), [32, 4, 1]);
        assert_eq!(sizes(128), [128]);
        assert_eq!(sizes(300), [128, 128, 32, 8, 4]);
        let mut shapes: Vec<usize> = (1..=1000).flat_map(sizes).collect();
        shapes.sort_unstable();
        shapes.dedup();
        assert_eq!(shapes, [1, 2, 4, 8, 16, 32, 64, 128]);
    }
}
