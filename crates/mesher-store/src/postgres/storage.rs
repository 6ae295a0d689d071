//! What an event takes in PostgreSQL, estimated when it is written (RETAIN-03).
//!
//! PostgreSQL can say what a relation takes (`pg_total_relation_size`) but not one project's
//! rows in it, so each event carries its estimate (`events.bytes`), and its project's
//! `storage_bytes` is their sum. A row over the TOAST threshold keeps its payload out of line,
//! in 1,996-byte chunks four to an 8 KiB page; index entries and the full-text vector with its
//! GIN postings are per-event and per-byte constants measured on this schema
//! (`tests/partitions.rs` holds the estimate to within 10 % of the sizes of the partitions
//! holding the events, for small, large and mixed payloads).

use crate::event_model::NewEvent;

/// A row larger than this moves its payload to the TOAST table.
const TOAST_THRESHOLD: usize = 2032;
/// Payload bytes per TOAST chunk.
const TOAST_CHUNK: usize = 1996;
/// What a TOAST chunk takes: a quarter page, with its entry in the TOAST index.
const TOAST_CHUNK_BYTES: usize = 8192 / 4 + 20;
/// The row's header, line pointer and fixed-width columns.
const ROW_FIXED: usize = 110;
/// The out-of-line pointer left in the row for a TOASTed payload.
const TOAST_POINTER: usize = 18;
/// Heap pages are not packed full (measured).
const HEAP_FILL: f64 = 0.9;
/// The four b-tree entries of an event with their pages' free space (measured).
const INDEX_BYTES: usize = 170;
/// The stripped full-text vector in the row and its GIN postings, per byte of indexed text
/// (measured). Most of it is the GIN's pending list: new entries are appended to it and merged
/// into the tree once it passes `gin_pending_list_limit` (4 MB), and its pages stay with the
/// index, a cost per partition that this spreads over the 1,000 to 10,000 events of the test's
/// partitions. A partition of millions of events takes about 1.5 bytes less per text byte.
const SEARCH_PER_TEXT_BYTE: f64 = 2.4;

/// The bytes `e` takes once written, given the length of its tags' JSON and indexed text.
pub(super) fn event_bytes(e: &NewEvent, tags_json_len: usize, text_len: usize) -> i64 {
    let inline = ROW_FIXED
        + e.title.len()
        + tags_json_len
        + e.environment.as_deref().map_or(0, str::len)
        + e.release.as_deref().map_or(0, str::len);
    let payload = e.payload.len();
    let (row, toast) = if inline + payload <= TOAST_THRESHOLD {
        (inline + payload, 0)
    } else {
        (
            inline + TOAST_POINTER,
            payload.div_ceil(TOAST_CHUNK) * TOAST_CHUNK_BYTES,
        )
    };
    let search = text_len as f64 * SEARCH_PER_TEXT_BYTE;
    (row as f64 / HEAP_FILL + toast as f64 + INDEX_BYTES as f64 + search).round() as i64
}
