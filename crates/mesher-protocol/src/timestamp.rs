//! UTC timestamps as the protocol sends them.
//!
//! Sentry accepts RFC 3339 strings (a missing offset means UTC, as in Relay) or numeric Unix
//! seconds, integer or float (protocol doc A6). Mesher stores RFC 3339 in UTC so that stored
//! events are readable and sort lexically within the same precision.
//!
//! Every [`Timestamp`] lies in the years 0000 to 9999, the range RFC 3339 can write: an
//! instant outside it (reachable by Unix seconds, an offset at the edge of year 9999 or a
//! clock-drift shift) could be stored but never read back. Constructors refuse such instants
//! and [`Timestamp::checked_add`] returns `None` for them.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::macros::{datetime, format_description};
use time::{Duration, OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// Why a value is not a timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    /// A string that is neither RFC 3339 nor `YYYY-MM-DDTHH:MM:SS[.fff]` without an offset.
    #[error("not an RFC 3339 timestamp: {0:?}")]
    BadString(String),
    /// A number outside the range of representable dates (or not finite).
    #[error("unix timestamp out of range: {0}")]
    OutOfRange(String),
    /// Neither a string nor a number.
    #[error("expected an RFC 3339 string or unix seconds, got {0}")]
    WrongType(&'static str),
}

/// A point in time, always in UTC, in the years 0000 to 9999.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

/// The first and last instants RFC 3339 can write.
const MIN: OffsetDateTime = datetime!(0000-01-01 00:00:00 UTC);
const MAX: OffsetDateTime = datetime!(9999-12-31 23:59:59.999_999_999 UTC);

impl Timestamp {
    /// Wraps a date-time, converting it to UTC; `None` outside the years 0000 to 9999.
    fn checked(dt: OffsetDateTime) -> Option<Self> {
        // `to_offset` would panic where UTC leaves `time`'s range (9999-12-31T23:00-01:00).
        let utc = dt.checked_to_offset(UtcOffset::UTC)?;
        (MIN..=MAX).contains(&utc).then_some(Self(utc))
    }

    /// Wraps a date-time, converting it to UTC and clamping it to the years 0000 to 9999.
    pub fn from_datetime(dt: OffsetDateTime) -> Self {
        Self::checked(dt).unwrap_or(Self(if dt < MIN { MIN } else { MAX }))
    }

    /// Whole Unix seconds.
    pub fn from_unix_seconds(secs: i64) -> Result<Self, TimestampError> {
        OffsetDateTime::from_unix_timestamp(secs)
            .ok()
            .and_then(Self::checked)
            .ok_or_else(|| TimestampError::OutOfRange(secs.to_string()))
    }

    /// Fractional Unix seconds, as JavaScript and Python SDKs send them. Rounded to microseconds,
    /// like Relay, because an f64 carries no meaningful nanoseconds at today's magnitudes.
    pub fn from_unix_seconds_f64(secs: f64) -> Result<Self, TimestampError> {
        if !secs.is_finite() {
            return Err(TimestampError::OutOfRange(secs.to_string()));
        }
        let micros = (secs * 1_000_000.0).round();
        // i128 holds any f64 below 1.7e38; the date range check below rejects the rest.
        if micros.abs() > 1e30 {
            return Err(TimestampError::OutOfRange(secs.to_string()));
        }
        OffsetDateTime::from_unix_timestamp_nanos(micros as i128 * 1_000)
            .ok()
            .and_then(Self::checked)
            .ok_or_else(|| TimestampError::OutOfRange(secs.to_string()))
    }

    /// Parses RFC 3339 (`2024-05-01T12:00:00.5Z`, `+02:00` offsets) and, like Relay, the same
    /// without an offset (taken as UTC) and with a space instead of `T`.
    pub fn parse(s: &str) -> Result<Self, TimestampError> {
        let bad = || TimestampError::BadString(s.to_owned());
        let s_trimmed = s.trim();
        if let Ok(dt) = OffsetDateTime::parse(s_trimmed, &Rfc3339) {
            return Self::checked(dt).ok_or_else(bad);
        }
        // Normalise `YYYY-MM-DD HH:MM:SS` to the `T` form before trying again.
        let normalised;
        let candidate = match s_trimmed.as_bytes().get(10) {
            Some(b' ') | Some(b't') if s_trimmed.is_char_boundary(11) => {
                normalised = format!("{}T{}", &s_trimmed[..10], &s_trimmed[11..]);
                if let Ok(dt) = OffsetDateTime::parse(&normalised, &Rfc3339) {
                    return Self::checked(dt).ok_or_else(bad);
                }
                normalised.as_str()
            }
            _ => s_trimmed,
        };
        let naive = format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
        );
        PrimitiveDateTime::parse(candidate, naive)
            .ok()
            .and_then(|dt| Self::checked(dt.assume_utc()))
            .ok_or_else(bad)
    }

    /// Reads a JSON value: a string (see [`Timestamp::parse`]) or Unix seconds.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, TimestampError> {
        use serde_json::Value;
        match value {
            Value::String(s) => Self::parse(s),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Self::from_unix_seconds(i)
                } else if let Some(f) = n.as_f64() {
                    Self::from_unix_seconds_f64(f)
                } else {
                    Err(TimestampError::OutOfRange(n.to_string()))
                }
            }
            other => Err(TimestampError::WrongType(crate::json_type_name(other))),
        }
    }

    /// The wrapped UTC date-time.
    pub fn as_datetime(&self) -> OffsetDateTime {
        self.0
    }

    /// Whole Unix seconds (rounded down).
    pub fn unix_seconds(&self) -> i64 {
        self.0.unix_timestamp()
    }

    /// Unix milliseconds (rounded down), convenient for database columns.
    pub fn unix_millis(&self) -> i64 {
        // Dates representable by `time` stay far inside i64 milliseconds.
        (self.0.unix_timestamp_nanos().div_euclid(1_000_000)) as i64
    }

    /// Fractional Unix seconds.
    pub fn unix_seconds_f64(&self) -> f64 {
        self.0.unix_timestamp_nanos() as f64 / 1e9
    }

    /// Shifts by a signed duration; `None` if the result leaves the years 0000 to 9999.
    pub fn checked_add(&self, d: Duration) -> Option<Self> {
        self.0.checked_add(d).and_then(Self::checked)
    }

    /// `self - other` as a signed duration.
    pub fn signed_since(&self, other: Timestamp) -> Duration {
        self.0 - other.0
    }

    /// RFC 3339 in UTC with a `Z` suffix and only as many fractional digits as needed.
    pub fn to_rfc3339(&self) -> String {
        // Formatting a UTC date-time between years 0 and 9999 cannot fail, and every
        // constructor keeps to those years; `Debug` of the inner value is a safe fallback anyway.
        self.0
            .format(&Rfc3339)
            .unwrap_or_else(|_| format!("{:?}", self.0))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

impl From<OffsetDateTime> for Timestamp {
    fn from(dt: OffsetDateTime) -> Self {
        Self::from_datetime(dt)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        Self::from_json(&value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(s).expect("valid timestamp")
    }

    #[test]
    fn rfc3339_and_float_seconds_agree_a6() {
        let a = ts("2011-05-02T17:41:36Z");
        assert_eq!(a.unix_seconds(), 1_304_358_096);
        assert_eq!(ts("2011-05-02T17:41:36"), a);
        assert_eq!(ts("2011-05-02T17:41:36.000"), a);
        assert_eq!(ts("2011-05-02 17:41:36Z"), a);
        assert_eq!(ts("2011-05-02T19:41:36+02:00"), a);
        assert_eq!(
            Timestamp::from_json(&json!(1_304_358_096.0)).expect("float"),
            a
        );
        assert_eq!(Timestamp::from_json(&json!(1_304_358_096)).expect("int"), a);
    }

    #[test]
    fn float_seconds_keep_microseconds() {
        let t = Timestamp::from_json(&json!(1_700_000_000.123_456)).expect("float");
        assert_eq!(t.to_rfc3339(), "2023-11-14T22:13:20.123456Z");
        assert_eq!(t.unix_millis(), 1_700_000_000_123);
    }

    #[test]
    fn rejects_garbage_and_out_of_range() {
        assert!(Timestamp::parse("yesterday").is_err());
        assert!(Timestamp::parse("2011-13-02T17:41:36Z").is_err());
        assert!(Timestamp::parse("é").is_err());
        assert!(Timestamp::from_json(&json!(1e300)).is_err());
        assert!(Timestamp::from_json(&json!(i64::MAX)).is_err());
        assert!(Timestamp::from_json(&json!(true)).is_err());
    }

    /// Found by the `fingerprint` fuzz target: instants outside the years 0000 to 9999 were
    /// accepted (or, at an offset past the end of 9999, panicked), and could not be read back.
    #[test]
    fn only_rfc3339_years_exist() {
        assert!(Timestamp::parse("9999-12-31T23:59:59-01:00").is_err());
        assert!(Timestamp::parse("0000-01-01T00:00:00+01:00").is_err());
        assert!(Timestamp::parse("-0001-01-01T00:00:00").is_err());
        assert!(Timestamp::from_unix_seconds(-100_000_000_000).is_err());
        assert!(Timestamp::from_json(&json!(-100_000_000_000.5)).is_err());
        let last = ts("9999-12-31T23:59:59.999999999Z");
        assert_eq!(last.checked_add(Duration::nanoseconds(1)), None);
        assert_eq!(
            ts("0000-01-01T00:00:00Z").checked_add(Duration::seconds(-1)),
            None
        );
        assert_eq!(
            Timestamp::from_datetime(datetime!(9999-12-31 23:59:59 -01:00)),
            last
        );
        for t in [last, ts("0000-01-01T00:00:00Z")] {
            let s = serde_json::to_string(&t).expect("serialize");
            assert_eq!(serde_json::from_str::<Timestamp>(&s).expect("read back"), t);
        }
    }

    #[test]
    fn serde_round_trip() {
        let t = ts("2024-05-01T12:00:00.5Z");
        let s = serde_json::to_string(&t).expect("serialize");
        assert_eq!(s, "\"2024-05-01T12:00:00.5Z\"");
        let back: Timestamp = serde_json::from_str(&s).expect("deserialize");
        assert_eq!(back, t);
    }
}
