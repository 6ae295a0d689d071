//! Exceptions, mechanisms, stack traces, frames and threads (protocol doc A6).
//!
//! Containers (`exception`, `threads`) must be lists or `{values}`, else the event is rejected;
//! inside them Relay's leniency applies: bad elements are dropped with an error entry.

use serde_json::Value;

use super::lenient::{
    Errors, Path, boolean, json_string, non_null, object, object_value, string, string_list,
    unsigned, values_list,
};
use super::raw::{Object, Raw};
use crate::event::{Exception, Frame, Mechanism, Stacktrace, Thread, ThreadId};

/// Normalizes the `exception` container.
pub(super) fn normalize_exceptions(value: Raw<'_>, errors: &mut Errors) -> Vec<Exception> {
    let root = Path::Root("exception");
    let values = root.field("values");
    let mut out = Vec::new();
    for (i, item) in values_list(value, &root, errors).into_iter().enumerate() {
        let path = values.index(i);
        let Some(members) = object(item, &path, errors) else {
            continue;
        };
        out.extend(normalize_exception(members, &path, errors));
    }
    out
}

fn normalize_exception(
    members: Object<'_>,
    path: &Path<'_>,
    errors: &mut Errors,
) -> Option<Exception> {
    let mut exception = Exception::default();
    for (key, value) in members {
        let field = path.field(&key);
        match &*key {
            "type" => exception.ty = string(value, &field, errors),
            "value" => exception.value = json_string(value),
            "module" => exception.module = string(value, &field, errors),
            "thread_id" => exception.thread_id = thread_id(value, &field, errors),
            "mechanism" => {
                exception.mechanism =
                    object(value, &field, errors).map(|m| normalize_mechanism(m, &field, errors))
            }
            "stacktrace" => exception.stacktrace = normalize_stacktrace(value, &field, errors),
            _ => {}
        }
    }
    // Like Relay: a missing type is recovered from values such as `ValueError: bad input`.
    if exception.ty.is_none()
        && let Some((parsed_ty, rest)) = exception.value.as_deref().and_then(split_type_prefix)
    {
        let rest = rest.trim();
        let rest = (!rest.is_empty()).then(|| rest.to_owned());
        exception.ty = Some(parsed_ty.to_owned());
        exception.value = rest;
    }
    if exception.ty.is_none() && exception.value.is_none() {
        errors.invalid(path, "type or value required", None);
        return None;
    }
    Some(exception)
}

/// `Word: rest` → (`Word`, `rest`), where `Word` is `[A-Za-z0-9_]+`.
fn split_type_prefix(value: &str) -> Option<(&str, &str)> {
    let (head, rest) = value.split_once(':')?;
    let valid = !head.is_empty() && head.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    valid.then_some((head, rest))
}

fn normalize_mechanism(members: Object<'_>, path: &Path<'_>, errors: &mut Errors) -> Mechanism {
    let mut mechanism = Mechanism::default();
    let mut ty = None;
    for (key, value) in members {
        let field = path.field(&key);
        match &*key {
            "type" => ty = string(value, &field, errors),
            "description" => mechanism.description = string(value, &field, errors),
            "help_link" => mechanism.help_link = string(value, &field, errors),
            "handled" => mechanism.handled = boolean(value, &field, errors),
            "synthetic" => mechanism.synthetic = boolean(value, &field, errors),
            "source" => mechanism.source = string(value, &field, errors),
            "exception_id" => mechanism.exception_id = unsigned(value, &field, errors),
            "parent_id" => mechanism.parent_id = unsigned(value, &field, errors),
            "is_exception_group" => mechanism.is_exception_group = boolean(value, &field, errors),
            "meta" => mechanism.meta = object_value(value, &field, errors).map(Value::Object),
            "data" => mechanism.data = object_value(value, &field, errors).map(Value::Object),
            _ => {}
        }
    }
    // `type` is required once a mechanism is present; `generic` stands for unknown.
    mechanism.ty = ty.unwrap_or_else(|| "generic".to_owned());
    mechanism
}

/// A stack trace; `None` when absent, malformed or without frames.
pub(super) fn normalize_stacktrace(
    value: Raw<'_>,
    path: &Path<'_>,
    errors: &mut Errors,
) -> Option<Stacktrace> {
    let members = object(value, path, errors)?;
    let mut stacktrace = Stacktrace::default();
    for (key, value) in members {
        let field = path.field(&key);
        match &*key {
            "frames" => {
                stacktrace.frames = match value {
                    Raw::Array(items) => items
                        .into_iter()
                        .enumerate()
                        .filter_map(|(i, item)| {
                            let frame_path = field.index(i);
                            object(item, &frame_path, errors)
                                .map(|f| normalize_frame(f, &frame_path, errors))
                        })
                        .collect(),
                    Raw::Null => Vec::new(),
                    other => {
                        errors.expected(&field, "a list", other);
                        Vec::new()
                    }
                }
            }
            "registers" => stacktrace.registers = object_value(value, &field, errors),
            _ => {}
        }
    }
    (!stacktrace.frames.is_empty()).then_some(stacktrace)
}

fn normalize_frame(members: Object<'_>, path: &Path<'_>, errors: &mut Errors) -> Frame {
    let mut frame = Frame::default();
    for (key, value) in members {
        let field = path.field(&key);
        let text = match &*key {
            "filename" => &mut frame.filename,
            "abs_path" => &mut frame.abs_path,
            "function" => &mut frame.function,
            "raw_function" => &mut frame.raw_function,
            "symbol" => &mut frame.symbol,
            "module" => &mut frame.module,
            "package" => &mut frame.package,
            "platform" => &mut frame.platform,
            "context_line" => &mut frame.context_line,
            "addr_mode" => &mut frame.addr_mode,
            "source_link" => &mut frame.source_link,
            "lineno" => {
                frame.lineno = unsigned(value, &field, errors);
                continue;
            }
            "colno" => {
                frame.colno = unsigned(value, &field, errors);
                continue;
            }
            "pre_context" => {
                frame.pre_context = string_list(value, &field, errors);
                continue;
            }
            "post_context" => {
                frame.post_context = string_list(value, &field, errors);
                continue;
            }
            "in_app" => {
                frame.in_app = boolean(value, &field, errors);
                continue;
            }
            "stack_start" => {
                frame.stack_start = boolean(value, &field, errors);
                continue;
            }
            "vars" => {
                frame.vars = frame_vars(value, &field, errors);
                continue;
            }
            "instruction_addr" => {
                frame.instruction_addr = address(value, &field, errors);
                continue;
            }
            "symbol_addr" => {
                frame.symbol_addr = address(value, &field, errors);
                continue;
            }
            "image_addr" => {
                frame.image_addr = address(value, &field, errors);
                continue;
            }
            _ => continue,
        };
        *text = string(value, &field, errors);
    }
    // SDKs write `?` for unknown names; Relay removes it.
    let not_question_mark = |s: &String| s != "?";
    frame.function = frame.function.filter(not_question_mark);
    frame.symbol = frame.symbol.filter(not_question_mark);
    if frame.filename.is_none() {
        frame.filename = frame.abs_path.as_deref().map(filename_from_abs_path);
    }
    frame
}

/// Relay derives a missing `filename` from `abs_path`: the URL path for URLs, else the path.
fn filename_from_abs_path(abs_path: &str) -> String {
    match url::Url::parse(abs_path) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.path() != "/" => {
            url.path().to_owned()
        }
        _ => abs_path.to_owned(),
    }
}

/// `vars` is an object; a list (positional arguments) is kept too.
fn frame_vars(value: Raw<'_>, path: &Path<'_>, errors: &mut Errors) -> Option<Value> {
    match value {
        Raw::Null => None,
        v @ (Raw::Object(_) | Raw::Array(_)) => Some(v.into_value()),
        other => {
            errors.expected(path, "an object", other);
            None
        }
    }
}

/// Native addresses: hex strings, or numbers written as hex.
fn address(value: Raw<'_>, path: &Path<'_>, errors: &mut Errors) -> Option<String> {
    match value {
        Raw::Null => None,
        Raw::Str(s) => Some(s.into_owned()),
        Raw::U64(a) => Some(format!("{a:#x}")),
        other => {
            errors.expected(path, "an address", other);
            None
        }
    }
}

fn thread_id(value: Raw<'_>, path: &Path<'_>, errors: &mut Errors) -> Option<ThreadId> {
    match value {
        Raw::Null => None,
        Raw::Str(s) => Some(ThreadId::String(s.into_owned())),
        Raw::U64(id) => Some(ThreadId::Int(id)),
        other => {
            errors.expected(path, "a thread id", other);
            None
        }
    }
}

/// Normalizes the `threads` container.
pub(super) fn normalize_threads(value: Raw<'_>, errors: &mut Errors) -> Vec<Thread> {
    let root = Path::Root("threads");
    let values = root.field("values");
    let mut out = Vec::new();
    for (i, item) in values_list(value, &root, errors).into_iter().enumerate() {
        let path = values.index(i);
        let Some(members) = object(item, &path, errors) else {
            continue;
        };
        let mut thread = Thread::default();
        for (key, value) in members {
            let field = path.field(&key);
            match &*key {
                "id" => thread.id = thread_id(value, &field, errors),
                "name" => thread.name = string(value, &field, errors),
                "crashed" => thread.crashed = boolean(value, &field, errors),
                "current" => thread.current = boolean(value, &field, errors),
                "main" => thread.main = boolean(value, &field, errors),
                "state" => thread.state = string(value, &field, errors),
                "held_locks" => thread.held_locks = non_null(value),
                "stacktrace" => thread.stacktrace = normalize_stacktrace(value, &field, errors),
                _ => {}
            }
        }
        out.push(thread);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn exceptions(value: Value) -> (Vec<Exception>, Errors) {
        let mut errors = Errors::default();
        let out = normalize_exceptions(Raw::owned(value), &mut errors);
        (out, errors)
    }

    #[test]
    fn list_and_values_forms_agree_e() {
        let one = json!({"type": "ValueError", "value": "bad"});
        let (a, _) = exceptions(json!([one.clone()]));
        let (b, _) = exceptions(json!({"values": [one.clone()]}));
        let (c, _) = exceptions(one);
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a[0].ty.as_deref(), Some("ValueError"));
    }

    /// Issue 12: a container of the wrong type is dropped and noted; the event is kept.
    #[test]
    fn wrong_container_types_are_dropped_and_noted() {
        let mut errors = Errors::default();
        assert!(normalize_exceptions(Raw::owned(json!("boom")), &mut errors).is_empty());
        assert!(
            normalize_exceptions(Raw::owned(json!({"values": {"a": 1}})), &mut errors).is_empty()
        );
        assert!(normalize_threads(Raw::owned(json!(7)), &mut errors).is_empty());
        let names: Vec<_> = errors
            .0
            .iter()
            .map(|e| e.name.clone().unwrap_or_default())
            .collect();
        assert_eq!(names, ["exception", "exception.values", "threads"]);
    }

    #[test]
    fn type_recovered_from_value_and_empty_exceptions_dropped() {
        let (out, errors) = exceptions(json!([
            {"value": "ZeroDivisionError: division by zero"},
            {"value": "no colon here"},
            {"mechanism": {"type": "generic"}},
            "not an object",
            null
        ]));
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].ty.as_deref(), Some("ZeroDivisionError"));
        assert_eq!(out[0].value.as_deref(), Some("division by zero"));
        assert_eq!(out[1].ty, None);
        assert_eq!(
            errors.0.len(),
            2,
            "typeless+valueless and non-object entries"
        );
    }

    #[test]
    fn mechanism_and_frames_are_normalized() {
        let (out, errors) = exceptions(json!([{
            "type": "Error",
            "value": {"not": "a string"},
            "thread_id": 5,
            "mechanism": {"handled": false, "exception_id": 1, "parent_id": 0, "is_exception_group": true},
            "stacktrace": {"frames": [
                {"function": "?", "abs_path": "https://example.com/static/app.js?v=1", "lineno": 10, "colno": "3",
                 "in_app": true, "pre_context": ["a", null], "instruction_addr": 4096},
                {"filename": "lib.rs", "lineno": -4, "vars": {"x": 1}},
                7
            ]}
        }]));
        let e = &out[0];
        assert_eq!(e.value.as_deref(), Some(r#"{"not":"a string"}"#));
        assert_eq!(e.thread_id, Some(ThreadId::Int(5)));
        let m = e.mechanism.as_ref().expect("mechanism");
        assert_eq!(m.ty, "generic");
        assert_eq!(m.handled, Some(false));
        assert_eq!((m.exception_id, m.parent_id), (Some(1), Some(0)));
        let frames = &e.stacktrace.as_ref().expect("stack").frames;
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].function, None);
        assert_eq!(frames[0].filename.as_deref(), Some("/static/app.js"));
        assert_eq!(frames[0].colno, Some(3));
        assert_eq!(frames[0].pre_context, vec!["a".to_owned(), String::new()]);
        assert_eq!(frames[0].instruction_addr.as_deref(), Some("0x1000"));
        assert_eq!(frames[1].lineno, None);
        assert_eq!(errors.0.len(), 2, "negative lineno and non-object frame");
    }

    #[test]
    fn empty_stacktraces_become_none() {
        let (out, _) = exceptions(json!([{"type": "Os", "stacktrace": {"frames": []}}]));
        assert_eq!(out[0].stacktrace, None);
    }

    #[test]
    fn threads_list_or_values() {
        let mut errors = Errors::default();
        let threads = normalize_threads(
            Raw::owned(
                json!({"values": [{"id": "main", "crashed": true, "name": "main",
                "stacktrace": {"frames": [{"function": "f"}]}}, {"id": 2, "current": "yes"}]}),
            ),
            &mut errors,
        );
        assert_eq!(threads.len(), 2);
        assert_eq!(threads[0].id, Some(ThreadId::String("main".into())));
        assert_eq!(threads[1].current, None);
        assert_eq!(errors.0.len(), 1);
    }
}
