//! The event side of the data model: issues, stored events, and what the writer reports.

use std::cell::RefCell;
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use mesher_protocol::{EventId, Level};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use zstd::dict::{DecoderDictionary, EncoderDictionary};

use crate::StoreError;

/// An event ready to be written: normalized, fingerprinted and compressed by the pipeline.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// The project it was sent to.
    pub project_id: i64,
    /// The event's id as the SDK reported it.
    pub event_id: EventId,
    /// The grouping hash: events with the same fingerprint in a project form one issue.
    pub fingerprint: String,
    /// When the event happened (normalized, clamped).
    pub timestamp: OffsetDateTime,
    /// When Mesher received it.
    pub received_at: OffsetDateTime,
    /// Severity.
    pub level: Level,
    /// The list title (`Type: value` or the message).
    pub title: String,
    /// Where it happened (the crashing in-app function), if known.
    pub culprit: Option<String>,
    /// Deployment environment.
    pub environment: Option<String>,
    /// Release.
    pub release: Option<String>,
    /// Text indexed for full-text search.
    pub search_text: String,
    /// Tags, in order.
    pub tags: Vec<(String, String)>,
    /// Who was affected (`id:…`, `email:…`, `username:…` or `ip:…`), for distinct-user counts.
    pub user_key: Option<String>,
    /// Why the event has its fingerprint (JSON); kept on the issue it creates.
    pub grouping: String,
    /// The normalized event JSON, compressed with [`compress_payload`].
    pub payload: Vec<u8>,
    /// Size of the uncompressed JSON, in bytes.
    pub payload_size: u32,
}

/// A change of an issue caused by new events, reported once per issue and batch (on its first
/// stored event), for notifications and alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueChange {
    /// The first event of a fingerprint created the issue (GROUP-04).
    Created,
    /// A resolved issue received an event and reopened (ISSUE-02).
    Regressed,
    /// An archived issue's volume spiked and it reopened (ISSUE-03).
    Escalated,
}

/// What became of one event of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Stored now, in this issue.
    Stored {
        /// The issue the event joined.
        issue_id: i64,
        /// What the write did to the issue, on the first stored event of each issue.
        change: Option<IssueChange>,
        /// The event's row: row numbers grow as events are inserted into one database, so a
        /// node of a cluster can read a peer's committed batch by the range of its rows.
        row: i64,
    },
    /// An event with this id was stored before (a retry): nothing changed.
    Duplicate,
    /// The issue's fingerprint is discarded: the event was dropped.
    Discarded {
        /// The discarded issue.
        issue_id: i64,
    },
    /// Counted in its issue (count, last seen, hours, users) but not stored: the issue had its
    /// project's `max_events_per_issue_per_hour` events in the event's hour (RETAIN-04).
    Capped {
        /// The issue the event counted in.
        issue_id: i64,
        /// What the write did to the issue, when this was its first event counted in the
        /// batch (an event over the cap can regress or escalate its issue).
        change: Option<IssueChange>,
    },
}

impl WriteOutcome {
    /// The issue and the change of a stored event; `None` for a duplicate or a discarded one.
    pub fn stored(&self) -> Option<(i64, Option<IssueChange>)> {
        match *self {
            WriteOutcome::Stored {
                issue_id, change, ..
            } => Some((issue_id, change)),
            _ => None,
        }
    }
}

/// The state of an issue (ISSUE-01).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IssueStatus {
    /// Needs attention.
    Unresolved,
    /// Fixed; a new event regresses it.
    Resolved,
    /// Hidden until it escalates.
    Archived,
    /// Future events are dropped.
    Discarded,
}

impl IssueStatus {
    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            IssueStatus::Unresolved => "unresolved",
            IssueStatus::Resolved => "resolved",
            IssueStatus::Archived => "archived",
            IssueStatus::Discarded => "discarded",
        }
    }
}

impl FromStr for IssueStatus {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "unresolved" => Ok(IssueStatus::Unresolved),
            "resolved" => Ok(IssueStatus::Resolved),
            "archived" => Ok(IssueStatus::Archived),
            "discarded" => Ok(IssueStatus::Discarded),
            other => Err(StoreError::Invalid {
                field: "status",
                message: format!(
                    "{other:?} is not one of unresolved, resolved, archived, discarded"
                ),
            }),
        }
    }
}

impl fmt::Display for IssueStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A group of events sharing a fingerprint (GROUP-04, GROUP-05).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Issue {
    /// Positive integer id.
    pub id: i64,
    /// The project.
    pub project_id: i64,
    /// The grouping hash.
    pub fingerprint: String,
    /// Title of the latest event.
    pub title: String,
    /// Culprit of the latest event.
    pub culprit: Option<String>,
    /// Level of the latest event.
    pub level: String,
    /// Current state.
    pub status: IssueStatus,
    /// Why it is in that state (`new`, `ongoing`, `regressed`, `escalating`).
    pub substatus: Option<String>,
    /// Timestamp of the earliest event.
    #[serde(with = "time::serde::rfc3339")]
    pub first_seen: OffsetDateTime,
    /// Timestamp of the latest event.
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen: OffsetDateTime,
    /// Events stored in this issue, ever.
    pub event_count: i64,
    /// Release of the latest event that had one.
    pub last_release: Option<String>,
    /// Environment of the latest event that had one.
    pub last_environment: Option<String>,
    /// Distinct users affected (estimated).
    pub user_count: i64,
    /// When it was resolved, while it is.
    #[serde(with = "time::serde::rfc3339::option")]
    pub resolved_at: Option<OffsetDateTime>,
    /// Set when resolved "in the next release": the release current at resolution.
    pub resolved_in_release: Option<String>,
    /// The member it is assigned to.
    pub assignee_id: Option<i64>,
    /// Why events join this issue: the grouping components of its first event.
    pub grouping: Option<serde_json::Value>,
    /// In an issue list with a period or event filters: its events that match them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_count: Option<i64>,
    /// While archived: how (issue 12, row 5).
    pub archive: Option<Archive>,
}

/// A state change asked for by a user (ISSUE-01).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusChange {
    /// Fixed: the next event regresses it.
    Resolve,
    /// Fixed in the next release: only an event of a newer release regresses it.
    ResolveInNextRelease,
    /// Back to unresolved (also lifts a discard).
    Unresolve,
    /// Hidden until the condition is met (issue 12, row 5).
    Archive(ArchiveUntil),
    /// Drop its future events before storage.
    Discard,
}

/// How long an archived issue stays archived: Sentry's archive ("ignore") options. When the
/// condition is met the issue becomes unresolved and escalating again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "until", rename_all = "snake_case")]
pub enum ArchiveUntil {
    /// Until its volume exceeds the volume expected from its history at the moment of archiving.
    Escalating,
    /// For good: no event brings it back.
    Forever,
    /// For this many minutes.
    Duration {
        /// Minutes from the archive.
        minutes: i64,
    },
    /// Until this many more events arrive (within `window_minutes` when given).
    EventCount {
        /// Events.
        count: i64,
        /// The window they must arrive in.
        window_minutes: Option<i64>,
    },
    /// Until this many more distinct users are affected (within `window_minutes` when given).
    UserCount {
        /// Users.
        count: i64,
        /// The window they must be counted in.
        window_minutes: Option<i64>,
    },
}

impl ArchiveUntil {
    /// The substatus of an issue archived this way (Sentry's names).
    pub fn substatus(self) -> &'static str {
        match self {
            ArchiveUntil::Escalating => "archived_until_escalating",
            ArchiveUntil::Forever => "archived_forever",
            _ => "archived_until_condition_met",
        }
    }
}

/// How an archived issue is archived, and what its condition has counted so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Archive {
    /// The condition.
    #[serde(flatten)]
    pub until: ArchiveUntil,
    /// When it was archived.
    #[serde(with = "time::serde::rfc3339")]
    pub archived_at: OffsetDateTime,
    /// When a [`ArchiveUntil::Duration`] archive ends.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// Until escalating: the events in an hour above which the issue escalates, forecast from
    /// its hourly history when it was archived.
    #[serde(default)]
    pub expected_volume: Option<f64>,
    /// Until escalating: the counts of the hours the observed volume covers (hour start in ms,
    /// events) as they were when archived, so that only events arriving later are observed.
    #[serde(default)]
    pub hours_at_archive: Vec<(i64, i64)>,
    /// Count conditions: the start of the current window (the archive when there is no window).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub window_start: Option<OffsetDateTime>,
    /// Count conditions: the issue's event or user count at `window_start`.
    #[serde(default)]
    pub counted_from: i64,
}

/// One entry of an issue's activity log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IssueActivity {
    /// Row id.
    pub id: i64,
    /// The issue.
    pub issue_id: i64,
    /// `resolved`, `resolved_in_next_release`, `unresolved`, `archived`, `discarded`,
    /// `regression`, `escalation`, `assigned`, `unassigned`.
    pub kind: String,
    /// The user who acted; `None` for Mesher itself.
    pub actor_id: Option<i64>,
    /// Details (release, counts, assignee).
    pub data: serde_json::Value,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A stored event, as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// The project.
    pub project_id: i64,
    /// The issue it belongs to.
    pub issue_id: i64,
    /// The event's id.
    pub event_id: EventId,
    /// When it happened.
    pub timestamp: OffsetDateTime,
    /// When Mesher received it.
    pub received_at: OffsetDateTime,
    /// Severity.
    pub level: Level,
    /// Title.
    pub title: String,
    /// Environment.
    pub environment: Option<String>,
    /// Release.
    pub release: Option<String>,
    /// Tags, in order.
    pub tags: Vec<(String, String)>,
    /// The normalized event's JSON as stored (decompressed, not parsed): a reader parses it
    /// once, into the form it needs.
    pub payload: Vec<u8>,
}

impl StoredEvent {
    /// The payload as a JSON tree, for readers that need no more than that.
    pub fn payload_json(&self) -> Result<serde_json::Value, StoreError> {
        serde_json::from_slice(&self.payload)
            .map_err(|e| StoreError::Database(format!("corrupt event payload: {e}")))
    }
}

/// An event id as SQLite stores it (a 16-byte blob).
/// A committed event as the live stream shows it, read by its row (a peer node's batch).
#[derive(Debug, Clone, PartialEq)]
pub struct CommittedEvent {
    /// Its row (see [`WriteOutcome::Stored`]).
    pub row: i64,
    /// The project.
    pub project_id: i64,
    /// The issue it joined.
    pub issue_id: i64,
    /// The event's id.
    pub event_id: EventId,
    /// When it happened.
    pub timestamp: OffsetDateTime,
    /// When Mesher received it.
    pub received_at: OffsetDateTime,
    /// Severity.
    pub level: Level,
    /// Title.
    pub title: String,
    /// Its issue's culprit (the event's own is inside the payload, which this read skips).
    pub culprit: Option<String>,
    /// Environment.
    pub environment: Option<String>,
    /// Release.
    pub release: Option<String>,
    /// Tags, in order.
    pub tags: Vec<(String, String)>,
}

pub(crate) fn event_id_from_blob(blob: &[u8]) -> EventId {
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&blob[..16.min(blob.len())]);
    EventId::from_bytes(bytes)
}

/// An event id as PostgreSQL's `uuid` reads back as text.
pub(crate) fn event_id_from_text(text: &str) -> Result<EventId, StoreError> {
    EventId::parse(text).map_err(|e| StoreError::Database(format!("stored event id {text:?}: {e}")))
}

/// A level as stored (its canonical name).
pub(crate) fn stored_level(name: &str) -> Result<Level, StoreError> {
    Level::parse(name)
        .ok_or_else(|| StoreError::Database(format!("unknown stored event level {name:?}")))
}

/// zstd level for stored payloads. With the dictionary, level 1 stores typical events about 3x
/// smaller than dictionary-less level 3 did, in less time; level 3 would save another 5 % of
/// bytes for half again the CPU (docs/PERFORMANCE.md has the figures).
const PAYLOAD_LEVEL: i32 = 1;

/// The dictionary stored payloads are compressed with: trained with `zstd --train` on the stored
/// JSON of normalized SDK events (how: docs/PERFORMANCE.md). Small events share most of their
/// bytes with each other (keys, SDK names, context shapes), which a dictionary provides up front.
///
/// Its id is in every frame header (zstd writes it there), so a payload says which dictionary
/// it needs. A new dictionary gets a new id, and the old one stays here for the payloads written
/// with it; frames without a dictionary id (older payloads) decompress as before.
static DICTIONARY_V1: &[u8] = include_bytes!("../dict/events-v1.zdict");

/// The id `zstd --train --dictID` gave [`DICTIONARY_V1`].
const DICTIONARY_V1_ID: u32 = 0x6d65_0001;

static ENCODER_V1: LazyLock<EncoderDictionary<'static>> =
    LazyLock::new(|| EncoderDictionary::copy(DICTIONARY_V1, PAYLOAD_LEVEL));
static DECODER_V1: LazyLock<DecoderDictionary<'static>> =
    LazyLock::new(|| DecoderDictionary::copy(DICTIONARY_V1));

thread_local! {
    /// One compression context per thread, reused: creating one per payload costs more than
    /// compressing a typical event.
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
}

/// Compresses an event's JSON for storage (zstd with the current dictionary).
pub fn compress_payload(json: &[u8]) -> Vec<u8> {
    let compressed = COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = zstd::bulk::Compressor::with_prepared_dictionary(&ENCODER_V1).ok();
        }
        slot.as_mut().and_then(|c| c.compress(json).ok())
    });
    // Compressing into memory cannot fail except on allocation failure, which aborts anyway;
    // fall back to storing the JSON as is (decompress_payload recognises it) rather than panic.
    compressed.unwrap_or_else(|| json.to_vec())
}

/// The JSON of a stored payload (zstd with or without a dictionary, or plain JSON for payloads
/// stored uncompressed).
pub fn decompress_payload(blob: &[u8]) -> Result<Vec<u8>, StoreError> {
    const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
    if !blob.starts_with(&ZSTD_MAGIC) {
        return Ok(blob.to_vec());
    }
    let corrupt = |e: std::io::Error| StoreError::Database(format!("corrupt event payload: {e}"));
    let mut out = Vec::new();
    match zstd::zstd_safe::get_dict_id_from_frame(blob).map(|id| id.get()) {
        None => {
            zstd::stream::copy_decode(blob, &mut out).map_err(corrupt)?;
        }
        Some(DICTIONARY_V1_ID) => {
            let mut decoder =
                zstd::stream::read::Decoder::with_prepared_dictionary(blob, &DECODER_V1)
                    .map_err(corrupt)?;
            std::io::Read::read_to_end(&mut decoder, &mut out).map_err(corrupt)?;
        }
        Some(other) => {
            return Err(StoreError::Database(format!(
                "event payload compressed with an unknown dictionary ({other:#x})"
            )));
        }
    }
    Ok(out)
}

/// Tags as a JSON object (the last value of a repeated key wins).
pub(crate) fn tags_json(tags: &[(String, String)]) -> serde_json::Value {
    serde_json::Value::Object(
        tags.iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect(),
    )
}

/// [`tags_json`] as JSON text, without building the value first (the writer's hot path).
pub(crate) fn tags_json_text(tags: &[(String, String)]) -> String {
    let map: std::collections::BTreeMap<&str, &str> =
        tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    // Serializing a map of strings into memory cannot fail.
    serde_json::to_string(&map).unwrap_or_else(|_| "{}".to_string())
}

/// The inverse of [`tags_json`] (ordered by key).
pub(crate) fn tags_from_json(v: &serde_json::Value) -> Vec<(String, String)> {
    match v {
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        let json = br#"{"message":"hello hello hello hello hello hello"}"#;
        let blob = compress_payload(json);
        assert_eq!(
            zstd::zstd_safe::get_dict_id_from_frame(&blob).map(|id| id.get()),
            Some(DICTIONARY_V1_ID),
            "the frame names its dictionary"
        );
        assert_eq!(decompress_payload(&blob).unwrap(), json);
        assert_eq!(decompress_payload(json).unwrap(), json);
    }

    #[test]
    fn payloads_stored_before_the_dictionary_still_read() {
        let json = br#"{"message":"hello hello hello hello hello hello"}"#;
        let old = zstd::bulk::compress(json, 3).unwrap();
        assert_eq!(decompress_payload(&old).unwrap(), json);
    }

    #[test]
    fn an_unknown_dictionary_is_an_error_not_garbage() {
        let mut blob = compress_payload(br#"{"message":"hello"}"#);
        // Frame header: magic (4), descriptor (1), window byte unless single-segment, then the
        // 4-byte dictionary id: change it to one this build does not know.
        let descriptor = blob[4];
        assert_eq!(descriptor & 3, 3, "a 4-byte dictionary id");
        let at = 5 + usize::from(descriptor & 0x20 == 0);
        blob[at] ^= 0xff;
        let err = decompress_payload(&blob).unwrap_err().to_string();
        assert!(err.contains("unknown dictionary"), "{err}");
    }

    #[test]
    fn tags_json_text_is_tags_json() {
        let tags = vec![
            ("z".to_string(), "1".to_string()),
            ("a\"b".to_string(), "x\ny".to_string()),
            ("z".to_string(), "2".to_string()),
        ];
        assert_eq!(tags_json_text(&tags), tags_json(&tags).to_string());
    }
}
