//! Unit tests of the strategy order and the public API; the SDK corpus lives in
//! `tests/grouping.rs`.

use serde_json::{Value, json};

use super::*;
use crate::normalize::{NormalizeContext, normalize_event_value};
use crate::{EventId, Timestamp};

/// An event as the normalizer makes it from an SDK payload (platform `python` unless given).
fn event(payload: Value) -> Event {
    let mut payload = payload;
    if payload.get("platform").is_none() {
        payload["platform"] = json!("python");
    }
    let ctx = NormalizeContext::new(
        Timestamp::from_unix_seconds(1_714_564_800).expect("time"),
        EventId::from_bytes([7; 16]),
    );
    normalize_event_value(payload, &ctx).expect("valid event")
}

fn frames(functions: &[&str]) -> Value {
    json!({"frames": functions
        .iter()
        .map(|f| json!({"module": "app", "function": f, "in_app": true}))
        .collect::<Vec<_>>()})
}

#[test]
fn messages_group_by_template_group_02() {
    let a = fingerprint(&event(json!({"logentry": {
        "message": "User %s not found", "formatted": "User alice not found"}})));
    let b = fingerprint(&event(json!({"logentry": {
        "message": "User %s not found", "formatted": "User bob not found"}})));
    assert_eq!(a.hash, b.hash);
    assert_eq!(a.kind, GroupingKind::Message);
    assert_eq!(a.components, ["User %s not found"]);
    assert_eq!(a.hash.len(), HASH_HEX_LEN);
}

#[test]
fn nothing_at_all_is_the_fallback() {
    let f = fingerprint(&event(json!({})));
    assert_eq!(f.kind, GroupingKind::Fallback);
    assert!(f.components.is_empty());
    assert_eq!(f.hash, fingerprint(&event(json!({"level": "info"}))).hash);
}

#[test]
fn strategy_priority_group_01_group_02() {
    let stack = frames(&["main", "run"]);
    // An exception beats threads and messages.
    let f = fingerprint(&event(json!({
        "exception": {"values": [{"type": "E", "value": "v"}]},
        "threads": {"values": [{"id": 1, "stacktrace": stack}]},
        "logentry": {"formatted": "m"}
    })));
    assert_eq!(f.kind, GroupingKind::Exception);
    // Without an exception, the one thread with a stack.
    let f = fingerprint(&event(json!({
        "threads": {"values": [{"id": 1, "stacktrace": stack}, {"id": 2}]},
        "logentry": {"formatted": "m"}
    })));
    assert_eq!(f.kind, GroupingKind::ThreadStacktrace);
    assert_eq!(f.components, ["app", "main", "app", "run"]);
    assert_eq!(f.tree().id, ComponentId::Threads);
    // Two threads with stacks and none crashed or current: the message.
    let f = fingerprint(&event(json!({
        "threads": {"values": [{"id": 1, "stacktrace": stack}, {"id": 2, "stacktrace": stack}]},
        "logentry": {"formatted": "m"}
    })));
    assert_eq!(f.kind, GroupingKind::Message);
    // The crashed one decides.
    let f = fingerprint(&event(json!({
        "threads": {"values": [
            {"id": 1, "stacktrace": frames(&["idle"])},
            {"id": 2, "crashed": true, "stacktrace": stack}
        ]}
    })));
    assert_eq!(f.components, ["app", "main", "app", "run"]);
    // A legacy top-level stack trace.
    let f = fingerprint(&event(
        json!({"stacktrace": stack, "logentry": {"formatted": "m"}}),
    ));
    assert_eq!(f.kind, GroupingKind::Stacktrace);
    assert_eq!(f.frames, Some(FrameSelection::App));
}

#[test]
fn stack_without_contributing_frames_falls_back_to_type_and_value_group_02() {
    let f = fingerprint(&event(json!({
        "platform": "javascript",
        "exception": {"values": [{"type": "TypeError", "value": "x is undefined (id 42)",
            "stacktrace": {"frames": [{"abs_path": "https://example.com/app.js", "lineno": 1}]}}]}
    })));
    assert_eq!(f.kind, GroupingKind::Exception);
    assert_eq!(f.components, ["TypeError", "x is undefined (id <int>)"]);
    assert_eq!(f.frames, None);
}

#[test]
fn client_fingerprints_group_03() {
    let base = json!({"exception": {"values": [{"type": "KeyError", "value": "'a'",
        "stacktrace": frames(&["load"])}]}, "tags": {"region": "eu"}, "transaction": "/users"});
    let with = |fp: Value| {
        let mut e = base.clone();
        e["fingerprint"] = fp;
        fingerprint(&event(e))
    };
    let plain = fingerprint(&event(base.clone()));
    assert_eq!(with(json!(["{{ default }}"])).hash, plain.hash);
    assert_eq!(with(json!(["{{default}}"])).hash, plain.hash);

    let hybrid = with(json!(["{{ default }}", "{{ tags.region }}"]));
    assert_eq!(hybrid.kind, GroupingKind::Hybrid);
    assert_ne!(hybrid.hash, plain.hash);
    assert_eq!(hybrid.components, ["app", "load", "KeyError", "eu"]);
    assert_eq!(hybrid.frames, Some(FrameSelection::App));

    let custom = with(json!([
        "db-down",
        "{{ type }}",
        "{{ transaction }}",
        "{{ level }}"
    ]));
    assert_eq!(custom.kind, GroupingKind::Custom);
    assert_eq!(
        custom.components,
        ["db-down", "KeyError", "/users", "error"]
    );
    let missing = with(json!(["{{ tags.zone }}", "{{ logger }}", "{{ nope }}"]));
    assert_eq!(
        missing.components,
        [
            "<no-value-for-tag-zone>",
            "<no-logger>",
            "<unrecognized-variable-nope>"
        ]
    );
    let tree = missing.tree();
    assert_eq!(tree.children[0].hint, Some(Hint::VariableUnresolved));
    assert_eq!(tree.children[0].label.as_deref(), Some("{{ tags.zone }}"));
    assert_eq!(
        tree.children[0].value.as_deref(),
        Some("<no-value-for-tag-zone>")
    );

    // Custom fingerprints never collide with automatic grouping of the same values.
    let message = fingerprint(&event(json!({"logentry": {"formatted": "db-down"}})));
    assert_ne!(with(json!(["db-down"])).hash, message.hash);
    // Empty entries count.
    assert_ne!(with(json!(["", "a"])).hash, with(json!(["a"])).hash);
}

#[test]
fn fingerprint_variables_from_the_crash_frame_and_messages_group_03() {
    let e = event(json!({
        "exception": {"values": [{"type": "E", "value": "failed for 42",
            "stacktrace": {"frames": [
                {"module": "lib", "function": "call", "abs_path": "/venv/lib.py", "in_app": false},
                {"module": "app.views", "function": "index", "abs_path": "/srv/app/views.py",
                 "filename": "app/views.py", "package": "/srv/pkgs/app.whl", "in_app": true},
                {"module": "lib", "function": "inner", "in_app": false}
            ]}}]},
        "logentry": {"formatted": "Order 7 failed"},
        "fingerprint": ["{{ function }}", "{{ module }}", "{{ path }}", "{{ stack.filename }}",
            "{{ package }}", "{{ message }}", "{{ value }}", "{{ raw_value }}", "Order 7 failed"]
    }));
    assert_eq!(
        fingerprint(&e).components,
        [
            "index",
            "app.views",
            "/srv/app/views.py",
            "app/views.py",
            "app.whl",
            "Order <int> failed",
            "failed for <int>",
            "failed for 42",
            "Order <int> failed"
        ]
    );
}

#[test]
fn explanation_is_json_with_reasons() {
    let f = fingerprint(&event(json!({
        "exception": {"values": [{"type": "ValueError", "value": "bad",
            "stacktrace": {"frames": [
                {"module": "django", "function": "inner", "in_app": false},
                {"module": "app", "function": "index", "lineno": 8, "in_app": true}
            ]}}]}
    })));
    let x = f.explanation();
    assert_eq!(x["config"], CONFIG);
    assert_eq!(x["kind"], "exception_stacktrace");
    assert_eq!(x["frames"], "app");
    assert_eq!(x["hash"], f.hash.as_str());
    assert_eq!(x["tree"]["id"], "exception");
    let frames = &x["tree"]["children"][0]["children"];
    assert_eq!(frames[0]["contributes"], false);
    assert_eq!(frames[0]["hint"], "not_in_app");
    assert_eq!(frames[1]["contributes"], true);
    assert_eq!(frames[1]["children"][2]["value"], "index");
    // The tree is stored as JSON and read back for display.
    let back: Component = serde_json::from_value(x["tree"].clone()).expect("deserialize");
    assert_eq!(back, f.tree());
}
