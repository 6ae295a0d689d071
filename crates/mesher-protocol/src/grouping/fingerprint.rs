//! Client fingerprints (GROUP-03): `fingerprint: ["{{ default }}", "{{ tags.region }}", "db"]`.
//!
//! Each entry is a literal or a `{{ variable }}` (spaces inside the braces optional), resolved as
//! Sentry's `resolve_fingerprint_variable` does. `{{ default }}` stands for the automatic
//! grouping; a fingerprint that is only `{{ default }}` *is* the automatic grouping and hashes
//! identically to no fingerprint. Variables without a value resolve to fixed placeholders
//! (`<no-transaction>`, `<no-value-for-tag-region>`, …), so such events still group together.
//!
//! Unlike Sentry, `{{ value }}` is parameterized like `{{ message }}` (ids in exception messages
//! would otherwise make an issue per event); `{{ raw_value }}` and `{{ raw_message }}` keep the
//! text as sent.

use super::component::{Component, ComponentId, Hint};
use super::message::normalize_message;
use crate::event::{Event, Frame, Stacktrace};

/// How a client fingerprint relates to the automatic grouping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ClientKind {
    /// No fingerprint, or only `{{ default }}`: the automatic grouping.
    Default,
    /// `{{ default }}` plus other entries.
    Hybrid,
    /// No `{{ default }}`.
    Custom,
}

/// Classifies the event's fingerprint.
pub(super) fn client_kind(entries: &[String]) -> ClientKind {
    let is_default = |e: &String| variable(e) == Some("default");
    match entries {
        [] => ClientKind::Default,
        [only] if is_default(only) => ClientKind::Default,
        _ if entries.iter().any(is_default) => ClientKind::Hybrid,
        _ => ClientKind::Custom,
    }
}

/// `{{ name }}` → `name` (Sentry's `\{\{\s*(\S+)\s*\}\}`, matching the whole entry).
fn variable(entry: &str) -> Option<&str> {
    let inner = entry.strip_prefix("{{")?.strip_suffix("}}")?.trim();
    (!inner.is_empty() && !inner.contains(char::is_whitespace)).then_some(inner)
}

/// The `fingerprint` component: one entry per element, `{{ default }}` replaced by `default`
/// (the automatic grouping's tree; `None` for custom fingerprints).
pub(super) fn fingerprint_component(event: &Event, default: Option<&Component>) -> Component {
    let children = event
        .fingerprint
        .iter()
        .map(|entry| match variable(entry) {
            Some("default") => {
                let tree = default.map_or_else(Vec::new, |d| vec![d.clone()]);
                let mut node = Component::node(ComponentId::Default, tree);
                node.label = Some(entry.clone());
                node
            }
            Some(name) => {
                let (value, resolved) = resolve(event, name);
                let mut leaf = entry_leaf(value);
                leaf.label = Some(entry.clone());
                if !resolved {
                    leaf.hint = Some(Hint::VariableUnresolved);
                }
                leaf
            }
            None if is_event_message(event, entry) => {
                // Sentry parameterizes literals that repeat the event's message, so
                // `fingerprint: [message]` does not make an issue per id in the message.
                let normalized = normalize_message(entry);
                let changed = normalized != *entry;
                let leaf = entry_leaf(normalized);
                if changed {
                    leaf.with_hint(Hint::Parameterized)
                } else {
                    leaf
                }
            }
            None => entry_leaf(entry.clone()),
        })
        .collect();
    Component::node(ComponentId::Fingerprint, children)
}

/// An entry always counts, even when empty: `["", "a"]` and `["a"]` are different fingerprints.
fn entry_leaf(value: String) -> Component {
    let mut leaf = Component::leaf(ComponentId::FingerprintEntry, String::new());
    leaf.value = Some(value);
    leaf.contributes = true;
    leaf
}

fn is_event_message(event: &Event, entry: &str) -> bool {
    let message = event.message.as_ref();
    let candidates = message
        .and_then(|m| m.formatted.as_deref())
        .into_iter()
        .chain(message.and_then(|m| m.message.as_deref()))
        .chain(event.exception.iter().filter_map(|e| e.value.as_deref()));
    candidates.into_iter().any(|c| c == entry)
}

/// The value of a variable, and whether the event had one.
fn resolve(event: &Event, name: &str) -> (String, bool) {
    let found = |value: Option<String>, missing: &str| match value.filter(|v| !v.is_empty()) {
        Some(v) => (v, true),
        None => (missing.to_owned(), false),
    };
    let last_exception = event.exception.last();
    let crash = crash_frame(event);
    match name {
        "transaction" => found(event.transaction.clone(), "<no-transaction>"),
        "message" => found(
            canonical_message(event).map(normalize_message),
            "<no-message>",
        ),
        "raw_message" => found(canonical_message(event).map(str::to_owned), "<no-message>"),
        "type" | "error.type" => found(last_exception.and_then(|e| e.ty.clone()), "<no-type>"),
        "value" | "error.value" => found(
            last_exception
                .and_then(|e| e.value.as_deref())
                .map(normalize_message),
            "<no-value>",
        ),
        "raw_value" | "error.raw_value" => found(
            last_exception.and_then(|e| e.value.as_deref().map(|v| v.trim().to_owned())),
            "<no-value>",
        ),
        "function" | "stack.function" => {
            found(crash.and_then(|f| f.function.clone()), "<no-function>")
        }
        "path" | "stack.abs_path" => found(
            crash.and_then(|f| f.abs_path.clone().or_else(|| f.filename.clone())),
            "<no-abs-path>",
        ),
        "stack.filename" => found(
            crash.and_then(|f| f.filename.clone().or_else(|| f.abs_path.clone())),
            "<no-filename>",
        ),
        "module" | "stack.module" => found(crash.and_then(|f| f.module.clone()), "<no-module>"),
        "package" | "stack.package" => found(
            crash.and_then(|f| f.package.as_deref()).map(|p| {
                // Only the last path segment: the install location varies by machine.
                p.rsplit(['/', '\\']).next().unwrap_or(p).to_owned()
            }),
            "<no-package>",
        ),
        "level" => (event.level.as_str().to_owned(), true),
        "logger" => found(event.logger.clone(), "<no-logger>"),
        _ => match name.strip_prefix("tags.") {
            Some(tag) => found(
                event.tag(tag).map(str::to_owned),
                &format!("<no-value-for-tag-{tag}>"),
            ),
            None => (format!("<unrecognized-variable-{name}>"), false),
        },
    }
}

/// Sentry's `get_canonical_message_from_event`, but preferring the template like the message
/// strategy does.
fn canonical_message(event: &Event) -> Option<&str> {
    event
        .message
        .as_ref()
        .and_then(|m| m.template())
        .or_else(|| event.exception.last().and_then(|e| e.value.as_deref()))
        .filter(|m| !m.trim().is_empty())
}

/// The frame an error happened in: the newest in-app frame of the raised exception's stack (or
/// the legacy stack, or the primary thread's), else its newest frame.
fn crash_frame(event: &Event) -> Option<&Frame> {
    let stack: &Stacktrace = event
        .exception
        .last()
        .and_then(|e| e.stacktrace.as_ref())
        .or(event.stacktrace.as_ref())
        .or_else(|| event.primary_thread()?.stacktrace.as_ref())?;
    stack
        .frames
        .iter()
        .rev()
        .find(|f| f.is_in_app())
        .or(stack.frames.last())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_parse_with_optional_spaces_group_03() {
        assert_eq!(variable("{{ default }}"), Some("default"));
        assert_eq!(variable("{{default}}"), Some("default"));
        assert_eq!(variable("{{   tags.region }}"), Some("tags.region"));
        assert_eq!(variable("{{ two words }}"), None);
        assert_eq!(variable("{{}}"), None);
        assert_eq!(variable("x {{ default }}"), None);
    }

    #[test]
    fn kinds_group_03() {
        let v = |e: &[&str]| e.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(client_kind(&v(&[])), ClientKind::Default);
        assert_eq!(client_kind(&v(&["{{ default }}"])), ClientKind::Default);
        assert_eq!(client_kind(&v(&["{{default}}", "x"])), ClientKind::Hybrid);
        assert_eq!(client_kind(&v(&["x", "{{ type }}"])), ClientKind::Custom);
    }
}
