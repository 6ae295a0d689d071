//! Tags: an object or a list of `[key, value]` pairs (protocol doc A6, checklist E).
//!
//! Relay's rules (`protocol/tags.rs`, `normalize_event_tags`): keys and values are
//! Python-stringified (`true` → `True`), spaces in keys become `-`, both are trimmed; keys must
//! be 1–200 characters of `a-zA-Z0-9_.:-`; values at most 200 characters and without a newline.
//! Offending tags are dropped with an error entry. Duplicates keep the first occurrence.
//! Beyond Relay, the server caps how many tags one event keeps ([`TagLimits`]; Bugsink keeps
//! 100): the excess is dropped with one error entry, so a single event cannot carry 60,000 tags
//! into the database and onto its page.
//! Tags keep the order sent, for objects too (Relay reads objects into a sorted map). The
//! reserved keys `release`, `dist`, `user`, `filename` and `function` are removed, and a legacy
//! `environment` tag fills a missing `environment` field. A `null` value is kept as `""`.

use std::collections::HashSet;

use super::lenient::{Errors, Path, lenient_string};
use super::raw::Raw;

/// Longest tag key, in characters.
pub const MAX_TAG_KEY_CHARS: usize = 200;
/// Longest tag value, in characters.
pub const MAX_TAG_VALUE_CHARS: usize = 200;

/// How many tags an event keeps and how long their keys and values may be (server settings,
/// never above Relay's limits of [`MAX_TAG_KEY_CHARS`] and [`MAX_TAG_VALUE_CHARS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagLimits {
    /// Most tags kept per event; later ones are dropped and noted.
    pub max_tags: usize,
    /// Longest key, in characters.
    pub max_key_chars: usize,
    /// Longest value, in characters.
    pub max_value_chars: usize,
}

impl TagLimits {
    /// Bugsink's 100 tags, Relay's 200-character keys and values.
    pub const DEFAULT: TagLimits = TagLimits {
        max_tags: 100,
        max_key_chars: MAX_TAG_KEY_CHARS,
        max_value_chars: MAX_TAG_VALUE_CHARS,
    };
}

impl Default for TagLimits {
    fn default() -> Self {
        TagLimits::DEFAULT
    }
}

const RESERVED_KEYS: [&str; 5] = ["release", "dist", "user", "filename", "function"];

/// Normalized tags plus the value of a legacy `environment` tag, if one was sent.
pub(super) struct NormalizedTags {
    pub(super) tags: Vec<(String, String)>,
    pub(super) environment: Option<String>,
}

/// Normalizes the `tags` field; a value that is neither an object nor a list is dropped and noted.
pub(super) fn normalize_tags(
    value: Raw<'_>,
    limits: TagLimits,
    errors: &mut Errors,
) -> NormalizedTags {
    let max_key = limits.max_key_chars.min(MAX_TAG_KEY_CHARS);
    let max_value = limits.max_value_chars.min(MAX_TAG_VALUE_CHARS);
    let root = Path::Root("tags");
    // Both shapes become a list of (raw key, raw value) pairs first.
    let raw: Vec<(Raw<'_>, Raw<'_>)> = match value {
        Raw::Null => Vec::new(),
        Raw::Object(members) => members.into_iter().map(|(k, v)| (Raw::Str(k), v)).collect(),
        Raw::Array(items) => {
            let mut pairs = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                match item {
                    Raw::Array(pair) if pair.len() == 2 => {
                        let mut pair = pair.into_iter();
                        let key = pair.next().unwrap_or_default();
                        let value = pair.next().unwrap_or_default();
                        pairs.push((key, value));
                    }
                    Raw::Null => {}
                    other => errors.expected(&root.index(i), "a [key, value] pair", other),
                }
            }
            pairs
        }
        other => {
            errors.expected(&root, "an object or a list of pairs", other);
            Vec::new()
        }
    };

    let mut out = NormalizedTags {
        tags: Vec::with_capacity(raw.len()),
        environment: None,
    };
    for (raw_key, raw_value) in raw {
        let Some(key) = lenient_string(raw_key, &root, errors) else {
            continue;
        };
        let key = key.replace(' ', "-").trim().to_owned();
        let path = root.field(&key);
        if key.is_empty() {
            errors.invalid(&root, "empty tag key", None);
            continue;
        }
        if key.chars().count() > max_key {
            errors.too_long(&Path::Root("tags"), max_key);
            continue;
        }
        if !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
        {
            errors.invalid(&path, "invalid characters in tag key", None);
            continue;
        }
        let value = match raw_value {
            Raw::Null => String::new(),
            other => match lenient_string(other, &path, errors) {
                Some(v) => v.trim().to_owned(),
                None => continue,
            },
        };
        if value.chars().count() > max_value {
            errors.too_long(&path, max_value);
            continue;
        }
        if value.contains('\n') {
            errors.invalid(&path, "newline in tag value", None);
            continue;
        }
        if key == "environment" {
            out.environment.get_or_insert(value);
            continue;
        }
        if RESERVED_KEYS.contains(&key.as_str()) {
            continue;
        }
        out.tags.push((key, value));
    }
    keep_first_occurrences(&mut out.tags);
    if out.tags.len() > limits.max_tags {
        let dropped = out.tags.len() - limits.max_tags;
        out.tags.truncate(limits.max_tags);
        errors.invalid(
            &root,
            format!(
                "too many tags: {dropped} dropped over the limit of {} per event",
                limits.max_tags
            ),
            None,
        );
    }
    out
}

/// Drops repeated keys, keeping the first (Relay's `DedupCache`), in linear time: events may
/// carry thousands of tags and a quadratic scan would let one request stall a worker.
fn keep_first_occurrences(tags: &mut Vec<(String, String)>) {
    let mut seen = HashSet::with_capacity(tags.len());
    let keep: Vec<bool> = tags.iter().map(|(k, _)| seen.insert(k.as_str())).collect();
    drop(seen);
    let mut keep = keep.into_iter();
    // `keep` has exactly one entry per tag, in order.
    tags.retain(|_| keep.next().unwrap_or(true));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn tags(value: Value) -> (Vec<(String, String)>, Errors) {
        let mut errors = Errors::default();
        let out = normalize_tags(Raw::owned(value), TagLimits::DEFAULT, &mut errors);
        (out.tags, errors)
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn object_with_non_string_values_e() {
        // Relay's test_tags_from_object.
        let (out, errors) = tags(json!({
            "blah": "blub", "bool": true, "foo bar": "baz", "non string": 42, "bam": null
        }));
        assert_eq!(
            out,
            pairs(&[
                ("bam", ""),
                ("blah", "blub"),
                ("bool", "True"),
                ("foo-bar", "baz"),
                ("non-string", "42")
            ])
        );
        assert!(errors.0.is_empty());
    }

    #[test]
    fn pairs_keep_order_e() {
        // Relay's test_tags_from_array.
        let (out, _) = tags(json!([
            ["bool", true],
            ["foo bar", "baz"],
            [23, 42],
            ["blah", "blub"],
            ["bam", null]
        ]));
        assert_eq!(
            out,
            pairs(&[
                ("bool", "True"),
                ("foo-bar", "baz"),
                ("23", "42"),
                ("blah", "blub"),
                ("bam", "")
            ])
        );
    }

    #[test]
    fn invalid_tags_are_dropped_with_errors() {
        let long = "v".repeat(201);
        let (out, errors) = tags(json!([
            ["ok", "1"],
            ["ok", "second wins? no, first wins"],
            ["bad/key", "x"],
            ["k".repeat(201), "x"],
            ["multi", "line\nvalue"],
            ["long", long],
            ["obj", {"a": 1}],
            ["release", "1.0"],
            ["", "empty key"],
            "not a pair"
        ]));
        assert_eq!(out, pairs(&[("ok", "1")]));
        assert_eq!(errors.0.len(), 7);
        assert!(errors.0.iter().any(|e| e.kind == "value_too_long"));
    }

    #[test]
    fn environment_tag_is_lifted() {
        let mut errors = Errors::default();
        let out = normalize_tags(
            Raw::owned(json!({"environment": "staging", "a": "b"})),
            TagLimits::DEFAULT,
            &mut errors,
        );
        assert_eq!(out.environment.as_deref(), Some("staging"));
        assert_eq!(out.tags, pairs(&[("a", "b")]));
    }

    #[test]
    fn object_tags_keep_input_order() {
        let raw: Raw<'_> =
            serde_json::from_str(r#"{"zeta":"1","alpha":"2","zeta":"3"}"#).expect("json");
        let out = normalize_tags(raw, TagLimits::DEFAULT, &mut Errors::default());
        assert_eq!(out.tags, pairs(&[("zeta", "1"), ("alpha", "2")]));
    }

    /// Issue 12: tags of the wrong type are dropped and noted; the event is kept.
    #[test]
    fn wrong_type_is_dropped_and_noted() {
        let mut errors = Errors::default();
        let out = normalize_tags(Raw::owned(json!("a=b")), TagLimits::DEFAULT, &mut errors);
        assert!(out.tags.is_empty());
        assert_eq!(errors.0[0].name.as_deref(), Some("tags"));
        assert_eq!(errors.0[0].value, Some(json!("a=b")));
    }

    /// Issue 11, finding 10: an event with 60,000 tags keeps the first 100 (after duplicates
    /// are removed) and says how many were dropped; shorter configured sizes apply too.
    #[test]
    fn tag_count_and_sizes_are_capped() {
        // A list of pairs keeps the order sent (a JSON object here would be sorted).
        let many: Vec<Value> = (0..60_000)
            .map(|i| json!([format!("k{i}"), format!("v{i}")]))
            .collect();
        let mut errors = Errors::default();
        let out = normalize_tags(
            Raw::owned(Value::Array(many)),
            TagLimits::DEFAULT,
            &mut errors,
        );
        assert_eq!(out.tags.len(), 100);
        assert_eq!(out.tags[0], ("k0".to_owned(), "v0".to_owned()));
        assert_eq!(out.tags[99], ("k99".to_owned(), "v99".to_owned()));
        assert_eq!(errors.0.len(), 1, "{:?}", errors.0);
        let reason = errors.0[0].details["reason"].as_str().expect("a reason");
        assert!(reason.contains("59900 dropped"), "{reason}");

        let limits = TagLimits {
            max_tags: 5,
            max_key_chars: 4,
            max_value_chars: 3,
        };
        let mut errors = Errors::default();
        let out = normalize_tags(
            Raw::owned(json!({"long-key": "v", "ok": "long", "fine": "yes"})),
            limits,
            &mut errors,
        );
        assert_eq!(out.tags, pairs(&[("fine", "yes")]));
        assert_eq!(errors.0.len(), 2);
    }
}
