//! What an event takes in a SQLite file, estimated when it is written (RETAIN-03).
//!
//! SQLite can say what a whole table takes (`dbstat`) but not one project's rows in it, so each
//! event carries its estimate (`events.bytes`), and its project's `storage_bytes` is their sum.
//! The row is placed as SQLite's b-tree does it (4 KiB pages: a local part in a leaf page, the
//! rest in whole overflow pages); the index entries and full-text postings are per-event and
//! per-byte constants measured on this schema (`tests/storage.rs` holds the estimate to within
//! 10 % of `dbstat`).

use crate::event_model::NewEvent;

/// The page size SQLite uses by default.
const PAGE: usize = 4096;
/// The largest record kept whole in a table leaf page (SQLite's `X` for a table b-tree).
const MAX_LOCAL: usize = PAGE - 35;
/// The smallest local part of a record that overflows (SQLite's `M`).
const MIN_LOCAL: usize = (PAGE - 12) * 32 / 255 - 23;
/// Bytes of an overflow page that hold record bytes.
const OVERFLOW_USABLE: usize = PAGE - 4;
/// The fixed columns of a row and its record header: ids, times, sizes, the level.
const ROW_FIXED: usize = 48;
/// The row's cell pointer, rowid and size varints.
const CELL_OVERHEAD: usize = 8;
/// Leaf pages are not packed full: local parts of varying size leave gaps (measured).
const LEAF_FILL: f64 = 0.82;
/// The four index entries of an event (event id, project and time, issue and time, project
/// and id), with the free space of their pages (measured).
const INDEX_BYTES: usize = 110;
/// Full-text postings per byte of indexed text (measured).
const FTS_PER_TEXT_BYTE: f64 = 0.45;

/// The bytes `e` takes once written, given the length of its indexed text and tags' JSON.
pub(super) fn event_bytes(e: &NewEvent, tags_json_len: usize, text_len: usize) -> i64 {
    let record = ROW_FIXED
        + e.payload.len()
        + e.title.len()
        + tags_json_len
        + e.environment.as_deref().map_or(0, str::len)
        + e.release.as_deref().map_or(0, str::len);
    let row = if record <= MAX_LOCAL {
        (record + CELL_OVERHEAD) as f64 / LEAF_FILL
    } else {
        // SQLite fills whole overflow pages and keeps the remainder local when it fits.
        let k = MIN_LOCAL + (record - MIN_LOCAL) % OVERFLOW_USABLE;
        let local = if k <= MAX_LOCAL { k } else { MIN_LOCAL };
        let pages = (record - local).div_ceil(OVERFLOW_USABLE);
        (local + CELL_OVERHEAD + 4) as f64 / LEAF_FILL + (pages * PAGE) as f64
    };
    let fts = text_len as f64 * FTS_PER_TEXT_BYTE;
    (row + INDEX_BYTES as f64 + fts).round() as i64
}
