//! The event message: `logentry` or the legacy `message` (protocol doc A6, checklist E).
//!
//! Follows Relay's `LogEntry::from_value` and `normalize_logentry`: a plain string becomes
//! `formatted`; with `params` and no `formatted`, the template is formatted (Python `%s` /
//! `%(name)s` or `{}` / `{0}` / `{name}` placeholders); a template equal to `formatted` (or the
//! only text) moves to `formatted`. Both are cut to 8192 characters.

use std::borrow::Cow;

use serde_json::Value;

use super::lenient::{Errors, Path, string, truncate};
use super::raw::Raw;
use crate::event::LogEntry;

/// Longest `message` / `formatted`, in characters (Relay `MaxChars::Message`).
pub const MAX_MESSAGE_CHARS: usize = 8192;

/// Builds the log entry from the `logentry` value and the legacy top-level `message` value.
pub(super) fn normalize_logentry(
    logentry: Raw<'_>,
    legacy_message: Raw<'_>,
    errors: &mut Errors,
) -> Option<LogEntry> {
    let (primary, path, fallback) = if logentry.is_null() {
        (legacy_message, Path::Root("message"), Raw::Null)
    } else {
        (logentry, Path::Root("logentry"), legacy_message)
    };
    let mut entry = LogEntry::default();
    match primary {
        Raw::Null | Raw::Bool(false) => return None,
        Raw::Str(s) => entry.formatted = Some(s.into_owned()),
        Raw::Object(members) => {
            for (key, value) in members {
                let field = path.field(&key);
                match &*key {
                    "message" => entry.message = string(value, &field, errors),
                    "formatted" => entry.formatted = string(value, &field, errors),
                    "params" => {
                        entry.params = match value {
                            Raw::Null => None,
                            p @ (Raw::Array(_) | Raw::Object(_)) => Some(p.into_value()),
                            other => {
                                errors.expected(&field, "a list or an object", other);
                                None
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        // Sentry historically JSON-encoded any other legacy `message` value.
        other => entry.formatted = Some(other.into_value().to_string()),
    }
    // SDKs that send both keep the plain text in `message` (GH-3248 in Sentry).
    if entry.formatted.is_none()
        && let Raw::Str(text) = fallback
    {
        entry.formatted = Some(text.into_owned());
    }

    if entry.formatted.is_none()
        && let (Some(template), Some(params)) = (&entry.message, &entry.params)
    {
        entry.formatted = format_message(template, params);
    }
    if entry.formatted.is_none() || entry.formatted == entry.message {
        entry.formatted = entry.message.take();
    }
    if entry.formatted.is_none() {
        if entry.params.is_some() {
            errors.invalid(&path, "no message present", None);
        }
        return None;
    }
    entry.formatted = entry.formatted.map(|s| truncate(s, MAX_MESSAGE_CHARS));
    entry.message = entry.message.map(|s| truncate(s, MAX_MESSAGE_CHARS));
    Some(entry)
}

/// Formats a template the way Relay does: `%` placeholders if there is a `%`, else `{}`
/// placeholders. `None` when the template does not fit the parameters.
fn format_message(template: &str, params: &Value) -> Option<String> {
    if template.contains('%') {
        python_format(template, params)
    } else if template.contains('{') {
        curly_format(template, params)
    } else {
        None
    }
}

/// Python's `str()` of a parameter.
fn param_text(value: &Value) -> Cow<'_, str> {
    match value {
        Value::String(s) => Cow::Borrowed(s),
        Value::Bool(true) => Cow::Borrowed("True"),
        Value::Bool(false) => Cow::Borrowed("False"),
        Value::Null => Cow::Borrowed("None"),
        other => Cow::Owned(other.to_string()),
    }
}

/// `%s`, `%d`, `%r`, `%(name)s`, `%%`; flags, width and precision are skipped.
fn python_format(template: &str, params: &Value) -> Option<String> {
    let mut out = String::with_capacity(template.len() + 16);
    let mut chars = template.chars().peekable();
    let mut next_index = 0;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let param = match chars.peek().copied()? {
            '%' => {
                chars.next();
                out.push('%');
                continue;
            }
            '(' => {
                chars.next();
                let name: String = chars.by_ref().take_while(|&c| c != ')').collect();
                params.as_object()?.get(&name)?
            }
            _ => {
                let param = params.as_array()?.get(next_index)?;
                next_index += 1;
                param
            }
        };
        // Flags, width and precision, e.g. `%-5.2f`.
        while chars
            .peek()
            .is_some_and(|c| matches!(c, '#' | '0'..='9' | '-' | ' ' | '+' | '.'))
        {
            chars.next();
        }
        let conversion = chars.next()?;
        if !"diouxXeEfFgGcrsa".contains(conversion) {
            return None;
        }
        out.push_str(&param_text(param));
    }
    Some(out)
}

/// `{}`, `{0}`, `{name}`, `{name:spec}`, `{{` and `}}`.
fn curly_format(template: &str, params: &Value) -> Option<String> {
    let mut out = String::with_capacity(template.len() + 16);
    let mut chars = template.chars().peekable();
    let mut next_index = 0;
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let inner: String = chars.by_ref().take_while(|&c| c != '}').collect();
                let key = inner.split(':').next().unwrap_or_default().trim();
                let param = if key.is_empty() {
                    next_index += 1;
                    params.as_array()?.get(next_index - 1)?
                } else if let Ok(index) = key.parse::<usize>() {
                    params.as_array()?.get(index)?
                } else {
                    params.as_object()?.get(key)?
                };
                out.push_str(&param_text(param));
            }
            other => out.push(other),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(logentry: Value, message: Value) -> Option<LogEntry> {
        normalize_logentry(
            Raw::owned(logentry),
            Raw::owned(message),
            &mut Errors::default(),
        )
    }

    #[test]
    fn legacy_string_message_e() {
        let e = entry(Value::Null, json!("hello world")).expect("entry");
        assert_eq!(e.formatted.as_deref(), Some("hello world"));
        assert_eq!(e.message, None);
    }

    #[test]
    fn logentry_with_params_is_formatted_e() {
        let e = entry(
            json!({"message": "hello, %s!", "params": ["world"]}),
            Value::Null,
        )
        .expect("entry");
        assert_eq!(e.formatted.as_deref(), Some("hello, world!"));
        assert_eq!(
            e.message.as_deref(),
            Some("hello, %s!"),
            "template kept for grouping"
        );
        let named = entry(
            json!({"message": "hi %(name)s, %d%% done", "params": {"name": "bob"}}),
            Value::Null,
        )
        .expect("entry");
        // `%d` has no positional params here, so formatting fails and the template is shown.
        assert_eq!(named.formatted.as_deref(), Some("hi %(name)s, %d%% done"));
        let curly = entry(
            json!({"message": "{} of {1} {name}", "params": [1, 2]}),
            Value::Null,
        )
        .expect("entry");
        assert_eq!(curly.formatted.as_deref(), Some("{} of {1} {name}"));
    }

    #[test]
    fn formatting_variants() {
        assert_eq!(
            python_format("hi %(name)s", &json!({"name": "bob"})).as_deref(),
            Some("hi bob")
        );
        assert_eq!(
            python_format("%s=%-5.2f %r %%", &json!(["x", 1.5, true])).as_deref(),
            Some("x=1.5 True %")
        );
        assert_eq!(python_format("%s %s", &json!(["x"])), None);
        assert_eq!(python_format("100%", &json!([])), None);
        assert_eq!(
            curly_format("{} {0} {{x}} {n:>4}", &json!(["a"])),
            None,
            "named lookup on a list fails"
        );
        assert_eq!(
            curly_format("{} and {1} {{x}}", &json!(["a", "b"])).as_deref(),
            Some("a and b {x}")
        );
        assert_eq!(
            curly_format("{user}", &json!({"user": null})).as_deref(),
            Some("None")
        );
    }

    #[test]
    fn message_and_logentry_together() {
        // SDK 11: `logentry` object plus the same text as `message`.
        let e = entry(json!({"message": "Hello"}), json!("Hello")).expect("entry");
        assert_eq!(e.formatted.as_deref(), Some("Hello"));
        assert_eq!(e.message, None);
        let e = entry(json!({"message": "User %s"}), json!("User bob")).expect("entry");
        assert_eq!(e.formatted.as_deref(), Some("User bob"));
        assert_eq!(e.message.as_deref(), Some("User %s"));
    }

    #[test]
    fn odd_values() {
        assert!(entry(Value::Null, json!(false)).is_none());
        assert_eq!(
            entry(Value::Null, json!(42))
                .and_then(|e| e.formatted)
                .as_deref(),
            Some("42")
        );
        let mut errors = Errors::default();
        assert!(
            normalize_logentry(Raw::owned(json!({"params": [1]})), Raw::Null, &mut errors)
                .is_none()
        );
        assert_eq!(errors.0.len(), 1);
        let long = "x".repeat(10_000);
        let e = entry(Value::Null, json!(long)).expect("entry");
        assert_eq!(
            e.formatted.map(|f| f.chars().count()),
            Some(MAX_MESSAGE_CHARS)
        );
        let mut errors = Errors::default();
        let e = normalize_logentry(
            Raw::owned(json!({"message": "m", "params": 3})),
            Raw::Null,
            &mut errors,
        )
        .expect("entry");
        assert_eq!(e.formatted.as_deref(), Some("m"));
        assert_eq!(errors.0[0].name.as_deref(), Some("logentry.params"));
    }
}
