//! Envelope framing (protocol doc A4).
//!
//! ```text
//! Envelope = Headers { "\n" Item } [ "\n" ]
//! Item     = Headers "\n" Payload
//! ```
//!
//! Headers are JSON objects, payloads are bytes: either exactly `length` bytes (then a `\n` or
//! the end of the body must follow) or, without `length`, everything up to the next `\n` or the
//! end. Parsing borrows the payloads from the body, so an envelope costs one header map per item
//! and no payload copies.
//!
//! Where the documentation is silent this follows Relay (`relay-server/src/envelope`): JSON
//! whitespace, including blank lines, before a header is skipped, so a blank line between items
//! is accepted; but whitespace after the final newline is an error ("expected an item header"),
//! as the documentation says nothing may follow the final newline. Size and count limits are the
//! caller's business; [`Envelope::item_counts`] helps.

mod client_report;
mod item;

use std::collections::BTreeMap;

use serde_json::{Map, Value};

pub use self::client_report::{
    ClientReport, ClientReportError, DiscardedEvent, parse_client_report,
};
pub use self::item::{AttachmentType, Item, ItemType};
use crate::dsn::{Dsn, DsnError};
use crate::ids::EventId;
use crate::timestamp::Timestamp;

/// Why a body is not a valid envelope. Item numbers count from 1.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// The body is empty or only whitespace.
    #[error("empty envelope: missing envelope header")]
    MissingHeader,
    /// The first line is not a JSON object.
    #[error("invalid envelope header: {0}")]
    InvalidHeader(serde_json::Error),
    /// Something other than a newline follows the envelope header.
    #[error("envelope header must be followed by a newline")]
    HeaderNotTerminated,
    /// A known envelope header has the wrong shape.
    #[error("invalid envelope header `{name}`: {reason}")]
    InvalidHeaderField {
        /// The header attribute.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// An item header is not a JSON object.
    #[error("item {index}: invalid item header: {source}")]
    InvalidItemHeader {
        /// Item number, from 1.
        index: usize,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// Only whitespace follows the last item's newline.
    #[error("item {index}: expected an item header, found end of envelope")]
    UnexpectedEof {
        /// Item number, from 1.
        index: usize,
    },
    /// Something other than a newline follows an item header.
    #[error("item {index}: item header must be followed by a newline")]
    ItemHeaderNotTerminated {
        /// Item number, from 1.
        index: usize,
    },
    /// The item header has no `type`.
    #[error("item {index}: missing `type` header")]
    MissingItemType {
        /// Item number, from 1.
        index: usize,
    },
    /// `type` is not a string.
    #[error("item {index}: `type` header must be a string")]
    InvalidItemType {
        /// Item number, from 1.
        index: usize,
    },
    /// `length` is not a non-negative integer.
    #[error("item {index}: `length` header must be a non-negative integer, got {value}")]
    InvalidLength {
        /// Item number, from 1.
        index: usize,
        /// The value as sent.
        value: String,
    },
    /// The body ends before `length` payload bytes.
    #[error(
        "item {index}: payload shorter than its length header (expected {expected} bytes, got {got})"
    )]
    PayloadTooShort {
        /// Item number, from 1.
        index: usize,
        /// The declared length.
        expected: u64,
        /// The bytes that were left.
        got: usize,
    },
    /// A sized payload is followed by something other than a newline.
    #[error(
        "item {index}: the {length}-byte payload is followed by byte 0x{found:02x} instead of a newline"
    )]
    PayloadNotTerminated {
        /// Item number, from 1.
        index: usize,
        /// The declared length.
        length: usize,
        /// The offending byte.
        found: u8,
    },
}

/// The envelope headers: the raw map (unknown attributes retained) plus the validated
/// `event_id`, `dsn` and `sent_at`.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvelopeHeaders {
    raw: Map<String, Value>,
    event_id: Option<EventId>,
    dsn: Option<Dsn>,
    sent_at: Option<Timestamp>,
}

impl EnvelopeHeaders {
    /// Validates the headers Mesher interprets. Like Relay, a malformed `event_id`, `dsn` or
    /// `sent_at` makes the whole envelope invalid rather than being silently ignored.
    fn from_raw(raw: Map<String, Value>) -> Result<Self, EnvelopeError> {
        let invalid = |name, reason: String| EnvelopeError::InvalidHeaderField { name, reason };
        let event_id = match raw.get("event_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => {
                Some(EventId::parse(s).map_err(|e| invalid("event_id", e.to_string()))?)
            }
            Some(other) => {
                return Err(invalid(
                    "event_id",
                    format!("expected a string, got {}", crate::json_type_name(other)),
                ));
            }
        };
        let dsn = match raw.get("dsn") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => {
                Some(Dsn::parse(s).map_err(|e: DsnError| invalid("dsn", e.to_string()))?)
            }
            Some(other) => {
                return Err(invalid(
                    "dsn",
                    format!("expected a string, got {}", crate::json_type_name(other)),
                ));
            }
        };
        let sent_at = match raw.get("sent_at") {
            None | Some(Value::Null) => None,
            Some(value) => {
                Some(Timestamp::from_json(value).map_err(|e| invalid("sent_at", e.to_string()))?)
            }
        };
        Ok(Self {
            raw,
            event_id,
            dsn,
            sent_at,
        })
    }

    /// The `event_id` header (dashed UUIDs accepted).
    pub fn event_id(&self) -> Option<EventId> {
        self.event_id
    }

    /// The `dsn` header as sent.
    pub fn dsn(&self) -> Option<&str> {
        self.raw.get("dsn").and_then(Value::as_str)
    }

    /// The `dsn` header, parsed.
    pub fn parsed_dsn(&self) -> Option<&Dsn> {
        self.dsn.as_ref()
    }

    /// The `sent_at` header, used for clock-drift correction.
    pub fn sent_at(&self) -> Option<Timestamp> {
        self.sent_at
    }

    /// All headers as sent, including unknown ones (`sdk`, `trace`, …).
    pub fn raw(&self) -> &Map<String, Value> {
        &self.raw
    }
}

/// A parsed envelope whose item payloads borrow from the request body.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope<'a> {
    headers: EnvelopeHeaders,
    items: Vec<Item<'a>>,
}

impl<'a> Envelope<'a> {
    /// The envelope headers.
    pub fn headers(&self) -> &EnvelopeHeaders {
        &self.headers
    }

    /// Shorthand for `headers().event_id()`.
    pub fn event_id(&self) -> Option<EventId> {
        self.headers.event_id
    }

    /// Shorthand for `headers().dsn()`.
    pub fn dsn(&self) -> Option<&str> {
        self.headers.dsn()
    }

    /// Shorthand for `headers().sent_at()`.
    pub fn sent_at(&self) -> Option<Timestamp> {
        self.headers.sent_at
    }

    /// The items in wire order.
    pub fn items(&self) -> &[Item<'a>] {
        &self.items
    }

    /// Takes the items out.
    pub fn into_items(self) -> Vec<Item<'a>> {
        self.items
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the envelope has no items (valid: protocol doc A4).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The first item of a type.
    pub fn first(&self, ty: &ItemType) -> Option<&Item<'a>> {
        self.items.iter().find(|item| &item.ty == ty)
    }

    /// How many items of a type.
    pub fn count(&self, ty: &ItemType) -> usize {
        self.items.iter().filter(|item| &item.ty == ty).count()
    }

    /// Item counts per type, for the caller's per-type limits (e.g. at most one `event`).
    pub fn item_counts(&self) -> BTreeMap<&ItemType, usize> {
        let mut counts = BTreeMap::new();
        for item in &self.items {
            *counts.entry(&item.ty).or_insert(0) += 1;
        }
        counts
    }
}

/// Parses an envelope body exactly per protocol doc A4.
pub fn parse_envelope(body: &[u8]) -> Result<Envelope<'_>, EnvelopeError> {
    let (raw, header_end) = match next_json_object(body, 0) {
        Ok(Some(found)) => found,
        Ok(None) => return Err(EnvelopeError::MissingHeader),
        Err(e) => return Err(EnvelopeError::InvalidHeader(e)),
    };
    if !is_terminated(body, header_end) {
        return Err(EnvelopeError::HeaderNotTerminated);
    }
    let headers = EnvelopeHeaders::from_raw(raw)?;

    let mut items = Vec::new();
    let mut offset = header_end + 1;
    while offset < body.len() {
        let (item, next) = parse_item(body, offset, items.len() + 1)?;
        items.push(item);
        offset = next;
    }
    Ok(Envelope { headers, items })
}

/// Parses one item starting at `start`; returns it and the offset after its terminating newline.
fn parse_item(body: &[u8], start: usize, index: usize) -> Result<(Item<'_>, usize), EnvelopeError> {
    let (headers, header_end) = match next_json_object(body, start) {
        Ok(Some(found)) => found,
        Ok(None) => return Err(EnvelopeError::UnexpectedEof { index }),
        Err(source) => return Err(EnvelopeError::InvalidItemHeader { index, source }),
    };
    if !is_terminated(body, header_end) {
        return Err(EnvelopeError::ItemHeaderNotTerminated { index });
    }
    let ty = match headers.get("type") {
        None | Some(Value::Null) => return Err(EnvelopeError::MissingItemType { index }),
        Some(Value::String(name)) => ItemType::parse(name),
        Some(_) => return Err(EnvelopeError::InvalidItemType { index }),
    };

    // The last header needs no newline, so the payload may start at the very end.
    let payload_start = (header_end + 1).min(body.len());
    let remaining = body.len() - payload_start;
    let payload_end = match headers.get("length") {
        None | Some(Value::Null) => body[payload_start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(body.len(), |pos| payload_start + pos),
        Some(value) => {
            let declared = value.as_u64().ok_or_else(|| EnvelopeError::InvalidLength {
                index,
                value: value.to_string(),
            })?;
            let length = usize::try_from(declared)
                .ok()
                .filter(|&len| len <= remaining)
                .ok_or(EnvelopeError::PayloadTooShort {
                    index,
                    expected: declared,
                    got: remaining,
                })?;
            let end = payload_start + length;
            if let Some(&found) = body.get(end).filter(|&&b| b != b'\n') {
                return Err(EnvelopeError::PayloadNotTerminated {
                    index,
                    length,
                    found,
                });
            }
            end
        }
    };

    let item = Item {
        ty,
        headers,
        payload: &body[payload_start..payload_end],
    };
    Ok((item, payload_end + 1))
}

/// A header object and the offset just past it.
type Header = (Map<String, Value>, usize);

/// Reads the next JSON object at `start`, skipping JSON whitespace before it (as Relay's
/// streaming deserializer does). Returns the object and the offset just past it, or `None` when
/// only whitespace is left.
fn next_json_object(body: &[u8], start: usize) -> Result<Option<Header>, serde_json::Error> {
    let mut stream = serde_json::Deserializer::from_slice(&body[start..]).into_iter();
    match stream.next() {
        None => Ok(None),
        Some(Err(e)) => Err(e),
        Some(Ok(map)) => Ok(Some((map, start + stream.byte_offset()))),
    }
}

/// A header or sized payload must be followed by `\n` or the end of the body.
fn is_terminated(body: &[u8], offset: usize) -> bool {
    matches!(body.get(offset), None | Some(b'\n'))
}

#[cfg(test)]
mod tests;
