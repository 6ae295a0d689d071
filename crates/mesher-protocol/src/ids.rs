//! Event identifiers.
//!
//! Sentry event ids are UUIDs. SDKs send them as 32 hex characters (preferred) or as the
//! 36-character dashed form (the Rust SDK puts the dashed form in envelope headers), in either
//! case. Mesher stores and prints them as 32 lowercase hex characters (protocol doc A4, A6).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a string is not an event id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventIdError {
    /// The string has neither 32 nor 36 characters.
    #[error("expected 32 hex characters or a 36-character UUID, got {0} characters")]
    BadLength(usize),
    /// A character that is not a hex digit (or a misplaced dash).
    #[error("invalid character {0:?} in event id")]
    BadChar(char),
}

/// A 16-byte event identifier. Displays as 32 lowercase hex characters.
///
/// There is deliberately no `random()` constructor: this crate does no I/O and owns no random
/// number generator. Callers that need a fresh id generate 16 random bytes and use
/// [`EventId::from_bytes`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId([u8; 16]);

impl EventId {
    /// Wraps 16 raw bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Whether this is the all-zero id, which some SDKs send as a placeholder.
    pub fn is_nil(&self) -> bool {
        self.0 == [0; 16]
    }

    /// Parses 32 hex characters or a dashed 8-4-4-4-12 UUID, case-insensitively.
    pub fn parse(s: &str) -> Result<Self, EventIdError> {
        let bytes = s.as_bytes();
        match bytes.len() {
            32 => Self::parse_hex_digits(bytes.iter().copied()),
            36 => {
                // Dashes are only valid at the UUID group boundaries.
                for (i, &b) in bytes.iter().enumerate() {
                    let dash_here = matches!(i, 8 | 13 | 18 | 23);
                    if dash_here != (b == b'-') {
                        return Err(EventIdError::BadChar(char::from(b)));
                    }
                }
                Self::parse_hex_digits(bytes.iter().copied().filter(|&b| b != b'-'))
            }
            _ => Err(EventIdError::BadLength(s.chars().count())),
        }
    }

    fn parse_hex_digits(digits: impl Iterator<Item = u8>) -> Result<Self, EventIdError> {
        let mut out = [0u8; 16];
        for (i, digit) in digits.enumerate() {
            let nibble = hex_value(digit).ok_or(EventIdError::BadChar(char::from(digit)))?;
            // Callers feed exactly 32 digits, so `i / 2` stays below 16.
            out[i / 2] |= nibble << if i % 2 == 0 { 4 } else { 0 };
        }
        Ok(Self(out))
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut buf = [0u8; 32];
        for (i, byte) in self.0.iter().enumerate() {
            buf[2 * i] = HEX[usize::from(byte >> 4)];
            buf[2 * i + 1] = HEX[usize::from(byte & 0x0f)];
        }
        // The buffer holds only ASCII hex digits, so it is always valid UTF-8.
        f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventId({self})")
    }
}

impl FromStr for EventId {
    type Err = EventIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for EventId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "9ec79c33ec9942ab8353589fcb2e04dc";

    #[test]
    fn parses_simple_hex_a4() {
        let id = EventId::parse(HEX).expect("valid hex id");
        assert_eq!(id.to_string(), HEX);
    }

    #[test]
    fn parses_dashed_uppercase_uuid_a4() {
        // Rust SDK envelope header form (protocol doc F), upper-cased to check case folding.
        let id = EventId::parse("9EC79C33-EC99-42AB-8353-589FCB2E04DC").expect("dashed id");
        assert_eq!(id.to_string(), HEX);
    }

    #[test]
    fn rejects_bad_lengths_and_chars() {
        assert_eq!(EventId::parse("abc"), Err(EventIdError::BadLength(3)));
        assert_eq!(
            EventId::parse("9ec79c33ec9942ab8353589fcb2e04dg"),
            Err(EventIdError::BadChar('g'))
        );
        // Dash in the wrong place.
        assert!(EventId::parse("9ec79c3-3ec99-42ab-8353-589fcb2e04dc").is_err());
        // 36 characters without dashes.
        assert!(EventId::parse("9ec79c33ec9942ab8353589fcb2e04dc0000").is_err());
        // Multi-byte characters must not panic.
        assert!(EventId::parse("ééééééééééééééééé").is_err());
    }

    #[test]
    fn serde_round_trip_is_32_hex() {
        let id = EventId::from_bytes([0xab; 16]);
        let json = serde_json::to_string(&id).expect("serialize");
        assert_eq!(json, format!("\"{}\"", "ab".repeat(16)));
        let back: EventId = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, id);
        let dashed: EventId =
            serde_json::from_str("\"9ec79c33-ec99-42ab-8353-589fcb2e04dc\"").expect("dashed");
        assert_eq!(dashed.to_string(), HEX);
        assert!(EventId::from_bytes([0; 16]).is_nil());
    }
}
