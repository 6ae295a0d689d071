use serde_json::json;

use super::*;
use crate::event::{Frame, Mechanism, Stacktrace};

fn exception(ty: &str, value: &str) -> Exception {
    Exception {
        ty: (!ty.is_empty()).then(|| ty.to_owned()),
        value: (!value.is_empty()).then(|| value.to_owned()),
        ..Exception::default()
    }
}

fn with_stack(mut e: Exception, functions: &[&str]) -> Exception {
    e.stacktrace = Some(Stacktrace {
        frames: functions
            .iter()
            .map(|f| Frame {
                function: Some((*f).to_owned()),
                module: Some("app".into()),
                in_app: Some(true),
                ..Frame::default()
            })
            .collect(),
        registers: None,
    });
    e
}

fn with_ids(mut e: Exception, id: u64, parent: Option<u64>, group: bool) -> Exception {
    let mechanism = e.mechanism.get_or_insert_with(Mechanism::default);
    mechanism.exception_id = Some(id);
    mechanism.parent_id = parent;
    mechanism.is_exception_group = group.then_some(true);
    e
}

fn event(exceptions: Vec<Exception>) -> Event {
    let mut event: Event = serde_json::from_value(json!({
        "event_id": "c4d3f2a1b0c94d8e8f7a6b5c4d3e2f10",
        "timestamp": 1714564799.0,
        "received": 1714564800.0,
        "level": "error",
        "platform": "python"
    }))
    .expect("minimal event");
    event.exception = exceptions;
    event
}

fn strategy(exceptions: Vec<Exception>) -> Option<Strategy> {
    exception_strategy(&event(exceptions))
}

fn values(s: &Strategy) -> Vec<String> {
    s.root.contributing_values()
}

#[test]
fn type_and_value_without_stack_group_02() {
    let s = strategy(vec![exception("KeyError", "'user 42'")]).expect("contributes");
    assert_eq!(s.kind, GroupingKind::Exception);
    assert_eq!(s.frames, None);
    assert_eq!(values(&s), ["KeyError", "'user <int>'"]);
    assert_eq!(s.root.children[1].hint, Some(Hint::Parameterized));
}

#[test]
fn stack_beats_value_group_01() {
    let s = strategy(vec![with_stack(
        exception("ValueError", "bad 1"),
        &["load"],
    )])
    .expect("contributes");
    assert_eq!(s.kind, GroupingKind::ExceptionStacktrace);
    assert_eq!(s.frames, Some(FrameSelection::App));
    assert_eq!(values(&s), ["app", "load", "ValueError"]);
    let value = s.root.children.last().expect("value");
    assert_eq!(value.hint, Some(Hint::StacktraceTakesPrecedence));
    assert_eq!(value.value.as_deref(), Some("bad 1"), "shown as sent");
}

#[test]
fn synthetic_types_are_ignored() {
    let mut e = with_stack(exception("Error", "cache miss for user 42"), &["get"]);
    e.mechanism = Some(Mechanism {
        synthetic: Some(true),
        ..Mechanism::default()
    });
    let s = strategy(vec![e]).expect("contributes");
    assert_eq!(values(&s), ["app", "get"]);
    let ty = s.root.children.iter().find(|c| c.id == ComponentId::Type);
    assert_eq!(ty.and_then(|t| t.hint), Some(Hint::Synthetic));
}

#[test]
fn chains_contribute_every_exception_group_01() {
    let s = strategy(vec![
        exception("KeyError", "'user_id'"),
        with_stack(exception("ValueError", "could not load"), &["index"]),
    ])
    .expect("contributes");
    assert_eq!(s.root.id, ComponentId::ChainedException);
    assert_eq!(
        values(&s),
        ["KeyError", "'user_id'", "app", "index", "ValueError"]
    );
}

#[test]
fn nothing_to_say_falls_through() {
    let mut e = exception("Error", "");
    e.mechanism = Some(Mechanism {
        synthetic: Some(true),
        ..Mechanism::default()
    });
    assert!(strategy(vec![e]).is_none());
    assert!(strategy(Vec::new()).is_none());
}

#[test]
fn ns_error_beats_value() {
    let mut e = exception("NSError", "The operation couldn’t be completed (42)");
    e.mechanism = Some(Mechanism {
        meta: Some(json!({"ns_error": {"domain": "NSURLErrorDomain", "code": -1001}})),
        ..Mechanism::default()
    });
    let s = strategy(vec![e]).expect("contributes");
    assert_eq!(values(&s), ["NSError", "NSURLErrorDomain:-1001"]);
}

#[test]
fn exception_group_with_one_distinct_error_is_that_error() {
    // An AggregateError of three identical failures groups like the failure alone.
    let leaf = |id| {
        with_ids(
            with_stack(exception("TypeError", "x"), &["f"]),
            id,
            Some(0),
            false,
        )
    };
    let grouped = strategy(vec![
        leaf(3),
        leaf(2),
        leaf(1),
        with_ids(exception("AggregateError", "3 errors"), 0, None, true),
    ])
    .expect("contributes");
    let alone = strategy(vec![with_stack(exception("TypeError", "x"), &["f"])]).expect("alone");
    assert_eq!(values(&grouped), values(&alone));
    assert_eq!(hash_of(&grouped), hash_of(&alone));
}

fn hash_of(s: &Strategy) -> String {
    super::super::hash::hash(&mut s.root.clone()).0
}

#[test]
fn exception_group_with_distinct_errors_keeps_them_and_the_group() {
    let s = strategy(vec![
        with_ids(exception("TypeError", "second"), 2, Some(0), false),
        with_ids(exception("RangeError", "first"), 1, Some(0), false),
        with_ids(exception("AggregateError", "two failures"), 0, None, true),
    ])
    .expect("contributes");
    // Sorted by type, descending, then the group.
    assert_eq!(
        values(&s),
        [
            "TypeError",
            "second",
            "RangeError",
            "first",
            "AggregateError",
            "two failures"
        ]
    );
    // A duplicate leaf error is shown as filtered out and changes nothing.
    let with_duplicate = strategy(vec![
        with_ids(exception("TypeError", "second"), 3, Some(0), false),
        with_ids(exception("TypeError", "second"), 2, Some(0), false),
        with_ids(exception("RangeError", "first"), 1, Some(0), false),
        with_ids(exception("AggregateError", "two failures"), 0, None, true),
    ])
    .expect("contributes");
    assert_eq!(hash_of(&with_duplicate), hash_of(&s));
    let filtered = with_duplicate.root.children.last().expect("filtered");
    assert_eq!(filtered.hint, Some(Hint::ExceptionGroupFiltered));
}

#[test]
fn exception_groups_without_ids_or_with_cycles_are_left_alone() {
    let s = strategy(vec![
        exception("TypeError", "a"),
        with_ids(exception("AggregateError", "g"), 0, None, true),
    ])
    .expect("contributes");
    assert_eq!(values(&s), ["TypeError", "a", "AggregateError", "g"]);

    // Parent ids that loop back to the root.
    let s = strategy(vec![
        with_ids(exception("E1", "a"), 1, Some(0), true),
        with_ids(exception("Root", "r"), 0, Some(1), true),
    ])
    .expect("contributes");
    assert_eq!(values(&s), ["E1", "a", "Root", "r"]);

    // A group without leaf errors is grouped by itself, as in Sentry.
    let s = strategy(vec![
        with_ids(exception("Inner", "i"), 1, Some(0), true),
        with_ids(exception("Root", "r"), 0, None, true),
    ])
    .expect("contributes");
    assert_eq!(values(&s), ["Root", "r"]);
}
