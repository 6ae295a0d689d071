//! Lenient conversions from raw JSON, in the spirit of Relay's `FromValue`: a wrong-typed
//! optional field is dropped and recorded as a processing error instead of failing the event.
//!
//! Field paths for error entries are built lazily from a stack-allocated [`Path`], so the
//! common case (nothing wrong) allocates nothing for them.

use std::fmt;

use serde_json::{Map, Value};

use super::raw::{Object, Raw, object_into_map};
use crate::event::ProcessingError;
use crate::timestamp::{Timestamp, TimestampError};

/// A dotted field path (`exception.values.0.stacktrace`) that is only formatted on error.
#[derive(Clone, Copy)]
pub(crate) enum Path<'a> {
    /// A top-level field.
    Root(&'a str),
    /// A field of an object.
    Field(&'a Path<'a>, &'a str),
    /// An element of a list.
    Index(&'a Path<'a>, usize),
}

impl<'a> Path<'a> {
    pub(crate) fn field(&'a self, name: &'a str) -> Path<'a> {
        Path::Field(self, name)
    }

    pub(crate) fn index(&'a self, index: usize) -> Path<'a> {
        Path::Index(self, index)
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root(name) => f.write_str(name),
            Path::Field(parent, name) => write!(f, "{parent}.{name}"),
            Path::Index(parent, index) => write!(f, "{parent}.{index}"),
        }
    }
}

/// Collects the processing errors of one event.
#[derive(Default)]
pub(crate) struct Errors(pub(crate) Vec<ProcessingError>);

/// Keep rejected values only when they are small scalars; big blobs would bloat the event.
const MAX_KEPT_VALUE_CHARS: usize = 200;

/// Field errors kept per event. A payload with thousands of bad frames would otherwise store
/// thousands of entries; the first hundred say enough.
pub(crate) const MAX_FIELD_ERRORS: usize = 100;

impl Errors {
    fn is_full(&self) -> bool {
        self.0.len() >= MAX_FIELD_ERRORS
    }

    /// Records a dropped or fixed value with Relay's `invalid_data` kind.
    pub(crate) fn invalid(
        &mut self,
        path: &Path<'_>,
        reason: impl Into<String>,
        value: Option<Value>,
    ) {
        if self.is_full() {
            return;
        }
        let value = value.filter(|v| match v {
            Value::String(s) => s.chars().count() <= MAX_KEPT_VALUE_CHARS,
            Value::Array(_) | Value::Object(_) => false,
            _ => true,
        });
        let mut details = Map::new();
        details.insert("reason".to_owned(), Value::String(reason.into()));
        self.0.push(ProcessingError {
            kind: "invalid_data".to_owned(),
            name: Some(path.to_string()),
            value,
            details,
        });
    }

    /// Records a value of the wrong JSON type.
    pub(crate) fn expected(&mut self, path: &Path<'_>, expected: &str, value: Raw<'_>) {
        if self.is_full() {
            return;
        }
        let reason = format!("expected {expected}, got {}", value.type_name());
        // Containers are never kept, so skip converting them.
        let value = match value {
            Raw::Array(_) | Raw::Object(_) => None,
            scalar => Some(scalar.into_value()),
        };
        self.invalid(path, reason, value);
    }

    /// Records a value dropped for being longer than its limit.
    pub(crate) fn too_long(&mut self, path: &Path<'_>, max_chars: usize) {
        if self.is_full() {
            return;
        }
        let mut details = Map::new();
        details.insert("max_chars".to_owned(), Value::from(max_chars));
        self.0.push(ProcessingError {
            kind: "value_too_long".to_owned(),
            name: Some(path.to_string()),
            value: None,
            details,
        });
    }

    /// Records an already built error. Not capped: used for the few timestamp corrections,
    /// which must always be visible.
    pub(crate) fn push(&mut self, error: ProcessingError) {
        self.0.push(error);
    }
}

/// A string; other types are dropped with an error.
pub(crate) fn string(value: Raw<'_>, path: &Path<'_>, errors: &mut Errors) -> Option<String> {
    match value {
        Raw::Null => None,
        Raw::Str(s) => Some(s.into_owned()),
        other => {
            errors.expected(path, "a string", other);
            None
        }
    }
}

/// Python-style `str(x)` of a primitive, like Relay's `LenientString`: `true` → `True`,
/// `42` → `42`, `3.5` → `3`; floats beyond JSON integer precision and containers are dropped.
pub(crate) fn lenient_string(
    value: Raw<'_>,
    path: &Path<'_>,
    errors: &mut Errors,
) -> Option<String> {
    match value {
        Raw::Null => None,
        Raw::Str(s) => Some(s.into_owned()),
        Raw::Bool(true) => Some("True".to_owned()),
        Raw::Bool(false) => Some("False".to_owned()),
        Raw::U64(u) => Some(u.to_string()),
        Raw::I64(i) => Some(i.to_string()),
        // 2^53: beyond it a float no longer represents integers exactly.
        Raw::F64(f) if f.abs() < 9_007_199_254_740_992.0 => Some((f.trunc() as i64).to_string()),
        Raw::F64(f) => {
            errors.invalid(
                path,
                "expected a number with JSON precision",
                Some(Raw::F64(f).into_value()),
            );
            None
        }
        other => {
            errors.expected(path, "a primitive value", other);
            None
        }
    }
}

/// A string, or any other value as its JSON text (Relay's `JsonLenientString`).
pub(crate) fn json_string(value: Raw<'_>) -> Option<String> {
    match value {
        Raw::Null => None,
        Raw::Str(s) => Some(s.into_owned()),
        other => Some(other.into_value().to_string()),
    }
}

/// A timestamp: an RFC 3339 string or Unix seconds; `Ok(None)` for `null`.
pub(crate) fn timestamp(value: &Raw<'_>) -> Result<Option<Timestamp>, TimestampError> {
    let parsed = match value {
        Raw::Null => return Ok(None),
        Raw::Str(s) => Timestamp::parse(s),
        Raw::U64(u) => i64::try_from(*u)
            .map_err(|_| TimestampError::OutOfRange(u.to_string()))
            .and_then(Timestamp::from_unix_seconds),
        Raw::I64(i) => Timestamp::from_unix_seconds(*i),
        Raw::F64(f) => Timestamp::from_unix_seconds_f64(*f),
        other => Err(TimestampError::WrongType(other.type_name())),
    };
    parsed.map(Some)
}

/// A boolean.
pub(crate) fn boolean(value: Raw<'_>, path: &Path<'_>, errors: &mut Errors) -> Option<bool> {
    match value {
        Raw::Null => None,
        Raw::Bool(b) => Some(b),
        other => {
            errors.expected(path, "a boolean", other);
            None
        }
    }
}

/// A non-negative integer; integral floats and numeric strings are accepted.
pub(crate) fn unsigned(value: Raw<'_>, path: &Path<'_>, errors: &mut Errors) -> Option<u64> {
    let parsed = match &value {
        Raw::Null => return None,
        Raw::U64(u) => Some(*u),
        Raw::F64(f) if f.fract() == 0.0 && *f >= 0.0 && *f < 1.8e19 => Some(*f as u64),
        Raw::Str(s) => s.trim().parse().ok(),
        _ => None,
    };
    if parsed.is_none() {
        errors.expected(path, "a non-negative integer", value);
    }
    parsed
}

/// The members of an object.
pub(crate) fn object<'a>(
    value: Raw<'a>,
    path: &Path<'_>,
    errors: &mut Errors,
) -> Option<Object<'a>> {
    match value {
        Raw::Null => None,
        Raw::Object(members) => Some(members),
        other => {
            errors.expected(path, "an object", other);
            None
        }
    }
}

/// An object, converted for keeping as sent.
pub(crate) fn object_value(
    value: Raw<'_>,
    path: &Path<'_>,
    errors: &mut Errors,
) -> Option<Map<String, Value>> {
    object(value, path, errors).map(object_into_map)
}

/// Any value but `null`, kept as sent.
pub(crate) fn non_null(value: Raw<'_>) -> Option<Value> {
    (!value.is_null()).then(|| value.into_value())
}

/// A list of strings; `null` elements become empty strings (Relay fills context lines so).
pub(crate) fn string_list(value: Raw<'_>, path: &Path<'_>, errors: &mut Errors) -> Vec<String> {
    match value {
        Raw::Null => Vec::new(),
        Raw::Array(items) => items
            .into_iter()
            .enumerate()
            .filter_map(|(i, item)| match item {
                Raw::Null => Some(String::new()),
                other => lenient_string(other, &path.index(i), errors),
            })
            .collect(),
        other => {
            errors.expected(path, "a list", other);
            Vec::new()
        }
    }
}

/// Unwraps Sentry's list containers: `{"values": [...]}`, a bare list, or (as Relay does) a
/// single object standing for a one-element list. `null` and `{}` mean empty. Anything else is
/// dropped and noted at `path`, and the event is kept (Relay's rule for every field).
pub(crate) fn values_list<'a>(
    value: Raw<'a>,
    path: &Path<'_>,
    errors: &mut Errors,
) -> Vec<Raw<'a>> {
    const EXPECTED: &str = "a list or an object with `values`";
    match value {
        Raw::Null => Vec::new(),
        Raw::Array(items) => items,
        Raw::Object(mut members) => {
            if members.is_empty() {
                return Vec::new();
            }
            // The last `values` wins, as it would in a map.
            let Some(pos) = members.iter().rposition(|(k, _)| k == "values") else {
                return vec![Raw::Object(members)];
            };
            match members.swap_remove(pos).1 {
                Raw::Null => Vec::new(),
                Raw::Array(items) => items,
                other => {
                    errors.expected(&path.field("values"), EXPECTED, other);
                    Vec::new()
                }
            }
        }
        other => {
            errors.expected(path, EXPECTED, other);
            Vec::new()
        }
    }
}

/// Cuts a string to at most `max` characters, ending in `...` when cut (Relay's trimming).
pub(crate) fn truncate(mut s: String, max: usize) -> String {
    if s.len() <= max {
        // Byte length bounds character count, so nothing to cut.
        return s;
    }
    if let Some((cut, _)) = s.char_indices().nth(max.saturating_sub(3))
        && s[cut..].chars().nth(3).is_some()
    {
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lenient_string_matches_relay_fingerprint_tests_a6() {
        let mut errors = Errors::default();
        let path = Path::Root("x");
        let mut s = |v: Value| lenient_string(Raw::owned(v), &path, &mut errors);
        assert_eq!(s(json!(true)).as_deref(), Some("True"));
        assert_eq!(s(json!(false)).as_deref(), Some("False"));
        assert_eq!(s(json!(-22)).as_deref(), Some("-22"));
        assert_eq!(s(json!(3.0)).as_deref(), Some("3"));
        assert_eq!(s(json!(3.5)).as_deref(), Some("3"));
        assert_eq!(s(json!(-1e100)), None);
        assert_eq!(s(json!([1])), None);
        assert_eq!(s(Value::Null), None);
        assert_eq!(errors.0.len(), 2);
        assert_eq!(errors.0[0].name.as_deref(), Some("x"));
    }

    #[test]
    fn field_errors_are_capped() {
        let mut errors = Errors::default();
        for i in 0..1_000 {
            errors.expected(&Path::Root("frames").index(i), "an object", Raw::Null);
        }
        assert_eq!(errors.0.len(), MAX_FIELD_ERRORS);
    }

    #[test]
    fn paths_format_lazily() {
        let root = Path::Root("exception");
        let values = root.field("values");
        let first = values.index(0);
        assert_eq!(
            first.field("stacktrace").to_string(),
            "exception.values.0.stacktrace"
        );
    }

    #[test]
    fn values_list_shapes() {
        let len =
            |v: Value| values_list(Raw::owned(v), &Path::Root("x"), &mut Errors::default()).len();
        assert_eq!(len(json!([1, 2])), 2);
        assert_eq!(len(json!({"values": [1]})), 1);
        assert_eq!(len(json!({"type": "E"})), 1);
        assert_eq!(len(json!({})), 0);
        assert_eq!(len(json!(null)), 0);
        assert_eq!(len(json!({"values": null})), 0);
        let mut errors = Errors::default();
        assert!(
            values_list(
                Raw::owned(json!("boom")),
                &Path::Root("exception"),
                &mut errors
            )
            .is_empty()
        );
        assert!(
            values_list(
                Raw::owned(json!({"values": 3})),
                &Path::Root("threads"),
                &mut errors
            )
            .is_empty()
        );
        let noted: Vec<(Option<&str>, Option<&Value>)> = errors
            .0
            .iter()
            .map(|e| (e.name.as_deref(), e.value.as_ref()))
            .collect();
        assert_eq!(
            noted,
            [
                (Some("exception"), Some(&json!("boom"))),
                (Some("threads.values"), Some(&json!(3)))
            ]
        );
    }

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(truncate("abcdef".into(), 6), "abcdef");
        assert_eq!(truncate("abcdefg".into(), 6), "abc...");
        assert_eq!(truncate("ééé".into(), 3), "ééé");
        assert_eq!(truncate("éééé".into(), 3), "...");
    }

    #[test]
    fn unsigned_accepts_integral_floats_and_strings() {
        let mut errors = Errors::default();
        let p = Path::Root("lineno");
        let mut u = |v: Value| unsigned(Raw::owned(v), &p, &mut errors);
        assert_eq!(u(json!(12)), Some(12));
        assert_eq!(u(json!(12.0)), Some(12));
        assert_eq!(u(json!("12")), Some(12));
        assert_eq!(u(json!(-1)), None);
        assert_eq!(u(json!(1.5)), None);
        assert_eq!(errors.0.len(), 2);
    }
}
