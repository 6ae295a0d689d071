//! A cheap JSON tree for normalization input.
//!
//! Building a `serde_json::Value` dominated normalization cost: every object becomes a
//! `BTreeMap` (node allocations, ordered inserts) and every key an owned `String`. `Raw` keeps
//! objects as vectors of pairs and borrows keys and unescaped strings from the input, so only
//! the strings the event keeps are ever copied. Objects are consumed in one pass, matching keys
//! as they come, which also avoids per-field map lookups.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// The members of a JSON object, in input order (duplicates kept; later ones win where it
/// matters, as with `serde_json`).
pub(crate) type Object<'a> = Vec<(Cow<'a, str>, Raw<'a>)>;

/// A JSON value whose strings may borrow from the input.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) enum Raw<'a> {
    /// `null` or absent.
    #[default]
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A non-negative integer.
    U64(u64),
    /// A negative integer.
    I64(i64),
    /// A number with a fraction or exponent.
    F64(f64),
    /// A string.
    Str(Cow<'a, str>),
    /// A list.
    Array(Vec<Raw<'a>>),
    /// An object.
    Object(Object<'a>),
}

impl<'a> Raw<'a> {
    /// Borrows a parsed `serde_json::Value` (for [`super::normalize_event_value`]).
    pub(crate) fn from_value(value: &'a Value) -> Self {
        match value {
            Value::Null => Raw::Null,
            Value::Bool(b) => Raw::Bool(*b),
            Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => Raw::U64(u),
                (None, Some(i)) => Raw::I64(i),
                // Without arbitrary precision every number is one of the three.
                (None, None) => Raw::F64(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => Raw::Str(Cow::Borrowed(s)),
            Value::Array(items) => Raw::Array(items.iter().map(Raw::from_value).collect()),
            Value::Object(map) => Raw::Object(
                map.iter()
                    .map(|(k, v)| (Cow::Borrowed(k.as_str()), Raw::from_value(v)))
                    .collect(),
            ),
        }
    }

    /// An owned copy of a `serde_json::Value`, for tests that build input with `json!`.
    #[cfg(test)]
    pub(crate) fn owned(value: Value) -> Raw<'static> {
        match value {
            Value::Null => Raw::Null,
            Value::Bool(b) => Raw::Bool(b),
            Value::String(s) => Raw::Str(Cow::Owned(s)),
            Value::Array(items) => Raw::Array(items.into_iter().map(Raw::owned).collect()),
            Value::Object(map) => Raw::Object(
                map.into_iter()
                    .map(|(k, v)| (Cow::Owned(k), Raw::owned(v)))
                    .collect(),
            ),
            number => match Raw::from_value(&number) {
                Raw::U64(u) => Raw::U64(u),
                Raw::I64(i) => Raw::I64(i),
                Raw::F64(f) => Raw::F64(f),
                _ => Raw::Null,
            },
        }
    }

    /// Converts into an owned `serde_json::Value`, for data kept as sent (`extra`, `vars`, …).
    pub(crate) fn into_value(self) -> Value {
        match self {
            Raw::Null => Value::Null,
            Raw::Bool(b) => Value::Bool(b),
            Raw::U64(u) => Value::from(u),
            Raw::I64(i) => Value::from(i),
            Raw::F64(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
            Raw::Str(s) => Value::String(s.into_owned()),
            Raw::Array(items) => Value::Array(items.into_iter().map(Raw::into_value).collect()),
            Raw::Object(members) => Value::Object(object_into_map(members)),
        }
    }

    /// "a string", "an object", … for error messages.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Raw::Null => "null",
            Raw::Bool(_) => "a boolean",
            Raw::U64(_) | Raw::I64(_) | Raw::F64(_) => "a number",
            Raw::Str(_) => "a string",
            Raw::Array(_) => "a list",
            Raw::Object(_) => "an object",
        }
    }

    /// Whether this is `null`.
    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Raw::Null)
    }
}

/// Converts object members into a map; a repeated key keeps its last value.
pub(crate) fn object_into_map(members: Object<'_>) -> Map<String, Value> {
    members
        .into_iter()
        .map(|(k, v)| (k.into_owned(), v.into_value()))
        .collect()
}

impl<'de> Deserialize<'de> for Raw<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Self::Value, E> {
        Ok(Raw::Bool(b))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Self::Value, E> {
        Ok(if i >= 0 {
            Raw::U64(i as u64)
        } else {
            Raw::I64(i)
        })
    }

    fn visit_u64<E>(self, u: u64) -> Result<Self::Value, E> {
        Ok(Raw::U64(u))
    }

    fn visit_f64<E>(self, f: f64) -> Result<Self::Value, E> {
        Ok(Raw::F64(f))
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Raw::Str(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Raw::Str(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
        Ok(Raw::Str(Cow::Owned(s)))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Raw::Null)
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Raw::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        Raw::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        // JSON gives no size hints; starting small but non-zero skips the first reallocations.
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(4).min(64));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Raw::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8).min(64));
        while let Some(Key(key)) = map.next_key()? {
            members.push((key, map.next_value()?));
        }
        Ok(Raw::Object(members))
    }
}

/// An object key that borrows when the input allows (serde's `Cow` impl always copies).
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;

        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }

            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(s)))
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }

            fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }

        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn borrows_plain_strings_and_owns_escaped_ones() {
        let input = br#"{"plain":"abc","esc\"aped":"a\nb","n":[1,-2,3.5,null,true]}"#;
        let raw: Raw<'_> = serde_json::from_slice(input).expect("json");
        let Raw::Object(members) = &raw else {
            panic!("object expected")
        };
        assert!(matches!(members[0].0, Cow::Borrowed("plain")));
        assert!(matches!(members[0].1, Raw::Str(Cow::Borrowed("abc"))));
        assert!(matches!(members[1].0, Cow::Owned(_)));
        assert!(matches!(&members[1].1, Raw::Str(s) if s == "a\nb"));
        assert_eq!(
            raw.clone().into_value(),
            json!({"plain": "abc", "esc\"aped": "a\nb", "n": [1, -2, 3.5, null, true]})
        );
    }

    #[test]
    fn from_value_matches_parsing() {
        let value = json!({"a": [1, -1, 1.5, "s", null, false, {"b": {}}]});
        let parsed: Raw<'_> =
            serde_json::from_str(r#"{"a":[1,-1,1.5,"s",null,false,{"b":{}}]}"#).expect("json");
        assert_eq!(Raw::from_value(&value), parsed);
        assert_eq!(parsed.type_name(), "an object");
        assert!(Raw::default().is_null());
    }
}
