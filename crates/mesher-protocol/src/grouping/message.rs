//! Messages (GROUP-02): the last resort, and the exception value when there is no stack trace.
//!
//! Sentry's `normalize_message_for_grouping`: the first two non-empty lines, with variable parts
//! (ids, numbers, addresses, dates, durations, hashes…) replaced by placeholders, so that
//! "Timeout after 3012ms" and "Timeout after 2999ms" are one issue. The replacement itself lives
//! in [`super::params`].

use super::component::{Component, ComponentId, Hint};
use super::params;
use super::{GroupingKind, Strategy};
use crate::event::Event;

/// Bytes of the (two-line) text that are parameterized; the rest is dropped. Relay cuts messages
/// at 8192 characters; exception values are not cut, and a megabyte of value must not cost a
/// megabyte of scanning per event.
const MAX_INPUT_BYTES: usize = 8192;

/// A message with its variable parts replaced: the first two non-empty lines, joined by `\n`,
/// with e-mail addresses, URLs, host names, IP addresses, trace ids, UUIDs, SHA-1 and MD5 hashes,
/// dates, durations, hex numbers, git SHAs, floats and integers replaced by `<email>`, `<url>`,
/// `<hostname>`, `<ip>`, `<traceparent>`, `<uuid>`, `<sha1>`, `<md5>`, `<date>`, `<duration>`,
/// `<hex>`, `<git_sha>`, `<float>` and `<int>`, and the values of `key='…'` and `key=true`
/// pairs by `<quoted_str>` and `<bool>`.
///
/// ```
/// use mesher_protocol::grouping::normalize_message;
///
/// assert_eq!(
///     normalize_message("Timeout after 3012ms talking to 10.0.0.7:5432"),
///     "Timeout after <duration> talking to <ip>:<int>"
/// );
/// ```
pub fn normalize_message(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MAX_INPUT_BYTES) + 16);
    let mut budget = MAX_INPUT_BYTES;
    let lines = message.lines().filter(|l| !l.trim().is_empty()).take(2);
    for (i, line) in lines.enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let line = cut(line, budget);
        budget -= line.len();
        params::parameterize_into(line, &mut out);
    }
    out
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The message strategy: the template (`logentry.message`) in preference to the formatted text,
/// since the template does not vary with the parameters.
pub(super) fn message_strategy(event: &Event) -> Option<Strategy> {
    let template = event.message.as_ref()?.template()?;
    let root = message_component(template);
    root.contributes.then_some(Strategy {
        root,
        kind: GroupingKind::Message,
        frames: None,
    })
}

/// A `message` leaf holding the normalized text.
fn message_component(text: &str) -> Component {
    let normalized = normalize_message(text);
    let changed = normalized != text;
    let component = Component::leaf(ComponentId::Message, normalized);
    if changed && component.contributes {
        component.with_hint(Hint::Parameterized)
    } else {
        component
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_two_non_empty_lines_group_02() {
        assert_eq!(
            normalize_message("line1\n\n  \nline2\nline3"),
            "line1\nline2"
        );
        assert_eq!(normalize_message("a\r\nb"), "a\nb");
        assert_eq!(normalize_message(""), "");
        assert_eq!(normalize_message("\n \n"), "");
    }

    #[test]
    fn long_input_is_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_INPUT_BYTES);
        let out = normalize_message(&long);
        assert!(out.len() <= MAX_INPUT_BYTES);
        assert!(out.chars().all(|c| c == 'é'));
    }

    #[test]
    fn message_component_notes_parameterization() {
        let c = message_component("User 42 not found");
        assert_eq!(c.value.as_deref(), Some("User <int> not found"));
        assert_eq!(c.hint, Some(Hint::Parameterized));
        let c = message_component("Connection refused");
        assert_eq!(c.hint, None);
        assert!(!message_component("  ").contributes);
    }
}
