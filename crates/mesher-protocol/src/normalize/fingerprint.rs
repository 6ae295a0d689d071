//! The client fingerprint (protocol doc A6, GROUP-03).
//!
//! Relay's `protocol/fingerprint.rs`: elements are Python-stringified (`true` → `True`,
//! `3.5` → `3`), `null` elements are dropped silently, other unusable elements (containers,
//! floats beyond 2^53) are dropped with an error. `{{ default }}` is kept verbatim for the
//! grouping code to expand. Unlike Relay, which drops a non-list fingerprint, Mesher rejects
//! the event: a client asking for custom grouping in a broken way should hear about it.

use super::lenient::{Errors, Path, lenient_string};
use super::raw::Raw;

/// Normalizes the `fingerprint` field.
pub(super) fn normalize_fingerprint(value: Raw<'_>, errors: &mut Errors) -> Vec<String> {
    let root = Path::Root("fingerprint");
    let items = match value {
        Raw::Null => return Vec::new(),
        Raw::Array(items) => items,
        other => {
            errors.expected(&root, "a list", other);
            return Vec::new();
        }
    };
    items
        .into_iter()
        .enumerate()
        .filter_map(|(i, item)| lenient_string(item, &root.index(i), errors))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn fingerprint(value: Value) -> (Vec<String>, usize) {
        let mut errors = Errors::default();
        let out = normalize_fingerprint(Raw::owned(value), &mut errors);
        (out, errors.0.len())
    }

    #[test]
    fn numbers_bools_nulls_and_default_e() {
        let (out, errors) = fingerprint(json!(["{{ default }}", true, false, -22, 3.5, null, "x"]));
        assert_eq!(out, ["{{ default }}", "True", "False", "-22", "3", "x"]);
        assert_eq!(errors, 0);
    }

    #[test]
    fn unusable_elements_are_dropped_with_errors() {
        let (out, errors) = fingerprint(json!(["a", -1e100, {"b": 1}, "d"]));
        assert_eq!(out, ["a", "d"]);
        assert_eq!(errors, 2);
        assert_eq!(fingerprint(json!([])).0, Vec::<String>::new());
    }

    /// Issue 12: a fingerprint that is not a list is dropped and noted; the event is kept.
    #[test]
    fn non_list_is_dropped_and_noted() {
        let mut errors = Errors::default();
        let out = normalize_fingerprint(Raw::owned(json!("my-group")), &mut errors);
        assert!(out.is_empty());
        assert_eq!(errors.0[0].name.as_deref(), Some("fingerprint"));
        assert_eq!(errors.0[0].value, Some(json!("my-group")));
    }
}
