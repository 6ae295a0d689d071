//! Event-level normalization tests (INGEST-02, protocol doc A6 and checklist E). Shapes of
//! whole SDK payloads live in `tests/sdk_fixtures.rs`.

use serde_json::{Value, json};

use super::*;

const NOW: i64 = 1_714_564_800; // 2024-05-01T12:00:00Z

fn ctx() -> NormalizeContext {
    NormalizeContext::new(
        Timestamp::from_unix_seconds(NOW).expect("time"),
        EventId::from_bytes([7; 16]),
    )
}

fn normalize(value: Value) -> Event {
    normalize_event_value(value, &ctx()).expect("valid event")
}

fn reject(value: Value) -> String {
    normalize_event_value(value, &ctx())
        .expect_err("rejected event")
        .to_string()
}

#[test]
fn minimal_event_gets_defaults_ingest_02() {
    let event = normalize(json!({}));
    assert_eq!(event.event_id, EventId::from_bytes([7; 16]), "generated id");
    assert_eq!(event.timestamp.unix_seconds(), NOW, "receive time");
    assert_eq!(event.received.unix_seconds(), NOW);
    assert_eq!(event.level, Level::Error);
    assert_eq!(event.platform, "other");
    assert!(event.errors.is_empty());
    assert_eq!(event.title(), "<unlabeled event>");
}

#[test]
fn event_id_priority_a4() {
    let payload_id = "9ec79c33ec9942ab8353589fcb2e04dc";
    let event = normalize(json!({"event_id": payload_id}));
    assert_eq!(event.event_id.to_string(), payload_id);
    let mut ctx = ctx();
    ctx.envelope_event_id = Some(EventId::from_bytes([1; 16]));
    let event = normalize_event_value(json!({"event_id": payload_id}), &ctx).expect("event");
    assert_eq!(
        event.event_id,
        EventId::from_bytes([1; 16]),
        "envelope header wins"
    );
    let dashed = normalize(json!({"event_id": "9EC79C33-EC99-42AB-8353-589FCB2E04DC"}));
    assert_eq!(dashed.event_id.to_string(), payload_id);
}

#[test]
fn float_and_rfc3339_timestamps_e() {
    let float = normalize(json!({"timestamp": (NOW - 10) as f64 + 0.25}));
    assert_eq!(float.timestamp.to_rfc3339(), "2024-05-01T11:59:50.25Z");
    let text = normalize(json!({"timestamp": "2024-05-01T11:59:50.250Z"}));
    assert_eq!(text.timestamp, float.timestamp);
    let int = normalize(json!({"timestamp": NOW - 10}));
    assert_eq!(int.timestamp.unix_seconds(), NOW - 10);
}

#[test]
fn future_timestamp_lands_at_receive_time_a6() {
    let event = normalize(json!({"timestamp": NOW + 7200}));
    assert_eq!(event.timestamp.unix_seconds(), NOW);
    assert_eq!(event.errors[0].kind, "future_timestamp");
}

#[test]
fn only_a_payload_that_is_not_an_object_is_rejected() {
    assert!(reject(json!([])).contains("event must be a JSON object, got a list"));
    let err = normalize_event(b"{\"level\":", &ctx()).expect_err("truncated JSON");
    assert!(err.to_string().starts_with("invalid JSON"));
}

/// Issue 12: a bad value in any field is dropped and noted under the field's name; the event is
/// kept (Relay's rule), an unreadable `event_id` replaced by the generated one.
#[test]
fn bad_values_are_dropped_and_noted_for_every_field() {
    let cases = [
        (json!({"event_id": "xyz"}), "event_id", Some(json!("xyz"))),
        (json!({"event_id": 5}), "event_id", Some(json!(5))),
        (json!({"exception": 1}), "exception", Some(json!(1))),
        (json!({"threads": "t"}), "threads", Some(json!("t"))),
        (
            json!({"breadcrumbs": true}),
            "breadcrumbs",
            Some(json!(true)),
        ),
        (json!({"tags": 3}), "tags", Some(json!(3))),
        (json!({"fingerprint": {"a": 1}}), "fingerprint", None),
        (json!({"environment": 7}), "environment", Some(json!(7))),
        (json!({"user": "bob"}), "user", Some(json!("bob"))),
        (json!({"request": 4}), "request", Some(json!(4))),
        (json!({"contexts": [1]}), "contexts", None),
        (json!({"extra": "x"}), "extra", Some(json!("x"))),
    ];
    for (value, field, kept) in cases {
        let mut payload = value.clone();
        payload["message"] = json!("still here");
        let event = normalize(payload);
        let note = event
            .errors
            .iter()
            .find(|e| e.name.as_deref() == Some(field))
            .unwrap_or_else(|| panic!("{value}: no note for {field} in {:?}", event.errors));
        assert_eq!(note.value, kept, "{value}");
        assert_eq!(
            event.message.as_ref().and_then(|m| m.formatted.as_deref()),
            Some("still here"),
            "{value}"
        );
    }
    let event = normalize(json!({"event_id": "xyz"}));
    assert_eq!(
        event.event_id,
        EventId::from_bytes([7; 16]),
        "the generated id"
    );
}

#[test]
fn levels_accept_aliases() {
    assert_eq!(normalize(json!({"level": "log"})).level, Level::Info);
    assert_eq!(normalize(json!({"level": "WARN"})).level, Level::Warning);
    assert_eq!(normalize(json!({"level": "critical"})).level, Level::Fatal);
    assert_eq!(normalize(json!({"level": 40})).level, Level::Error);
    assert_eq!(normalize(json!({"level": null})).level, Level::Error);
}

#[test]
fn platforms() {
    assert_eq!(normalize(json!({"platform": "python"})).platform, "python");
    assert_eq!(normalize(json!({"platform": "Python"})).platform, "python");
    assert_eq!(
        normalize(json!({"platform": "brainfuck"})).platform,
        "other"
    );
    let mut ctx = ctx();
    ctx.default_platform = Some("node".into());
    let event = normalize_event_value(json!({}), &ctx).expect("event");
    assert_eq!(event.platform, "node");
}

#[test]
fn message_string_vs_logentry_e() {
    let legacy = normalize(json!({"message": "Something happened"}));
    let modern = normalize(json!({"logentry": {"formatted": "Something happened"}}));
    assert_eq!(legacy.message, modern.message);
    assert_eq!(legacy.title(), "Something happened");
    let template = normalize(json!({"logentry": {"message": "Hello %s", "params": ["bob"]}}));
    let entry = template.message.expect("message");
    assert_eq!(entry.formatted.as_deref(), Some("Hello bob"));
    assert_eq!(entry.template(), Some("Hello %s"));
}

#[test]
fn scalars_are_coerced_or_dropped_with_errors() {
    let event = normalize(json!({
        "release": 1.5,
        "dist": "build 7",
        "environment": "  staging  ",
        "logger": "line\nbreak",
        "server_name": 12,
        "transaction": "   ",
        "extra": "not an object",
        "contexts": [],
        "user": "bob",
        "unknown_top_level": {"dropped": true}
    }));
    assert_eq!(
        event.release.as_deref(),
        Some("1"),
        "Relay's LenientString truncates floats"
    );
    assert_eq!(event.dist, None);
    assert_eq!(event.environment.as_deref(), Some("staging"));
    assert_eq!(event.logger, None);
    assert_eq!(event.server_name, None);
    assert_eq!(event.transaction, None);
    assert!(event.extra.is_empty() && event.contexts.is_empty() && event.user.is_none());
    let names: Vec<_> = event
        .errors
        .iter()
        .filter_map(|e| e.name.as_deref())
        .collect();
    assert_eq!(
        names,
        ["logger", "server_name", "dist", "contexts", "user", "extra"]
    );
}

#[test]
fn release_and_environment_validation() {
    let event = normalize(json!({"release": "a/b", "environment": "x".repeat(65)}));
    assert_eq!((event.release, event.environment), (None, None));
    assert_eq!(event.errors.len(), 2);
    let event = normalize(json!({"release": "latest"}));
    assert_eq!(event.release, None);
    let event = normalize(json!({"tags": {"environment": "qa"}}));
    assert_eq!(event.environment.as_deref(), Some("qa"));
    let event = normalize(json!({"environment": "prod", "tags": {"environment": "qa"}}));
    assert_eq!(
        event.environment.as_deref(),
        Some("prod"),
        "the field wins over the tag"
    );
}

#[test]
fn legacy_stacktrace_moves_into_sole_exception() {
    let event = normalize(json!({
        "exception": [{"type": "E"}],
        "stacktrace": {"frames": [{"function": "main"}]}
    }));
    assert!(event.stacktrace.is_none());
    assert_eq!(
        event.exception[0]
            .stacktrace
            .as_ref()
            .map(|s| s.frames.len()),
        Some(1)
    );
    let alias = normalize(json!({
        "sentry.interfaces.Exception": {"values": [{"type": "Legacy"}]},
        "sentry.interfaces.Message": {"message": "old"}
    }));
    assert_eq!(alias.title(), "Legacy");
    assert_eq!(
        alias.message.and_then(|m| m.formatted).as_deref(),
        Some("old")
    );
}

#[test]
fn modern_names_win_over_legacy_ones_and_entry_points_agree() {
    let payload = br#"{"sentry.interfaces.User":{"id":"legacy"},"user":{"id":"modern"},
        "exception":[{"type":"Modern"}],"sentry.interfaces.Exception":[{"type":"Legacy"}],
        "release":"1.0","release":null,"tags":{"b":"1","a":"2"}}"#;
    let from_bytes = normalize_event(payload, &ctx()).expect("event");
    assert_eq!(
        from_bytes.user.as_ref().and_then(|u| u.id.as_deref()),
        Some("modern")
    );
    assert_eq!(from_bytes.title(), "Modern");
    assert_eq!(
        from_bytes.release.as_deref(),
        Some("1.0"),
        "a later null does not erase"
    );
    let value: Value = serde_json::from_slice(payload).expect("json");
    let from_value = normalize_event_value(value, &ctx()).expect("event");
    assert_eq!(from_value.user, from_bytes.user);
    assert_eq!(from_value.exception, from_bytes.exception);
    // Bytes keep the tag order sent; a parsed `Value` has already sorted its keys.
    assert_eq!(from_bytes.tag("b"), from_value.tag("b"));
}

#[test]
fn serde_round_trip_is_compact() {
    let event = normalize(json!({
        "event_id": "9ec79c33ec9942ab8353589fcb2e04dc",
        "timestamp": NOW - 5,
        "message": "hello",
        "exception": [{"type": "E", "value": "v", "stacktrace": {"frames": [{"function": "f", "lineno": 3}]}}],
        "breadcrumbs": [{"timestamp": NOW - 6, "message": "crumb"}],
        "tags": [["a", "b"]],
        "fingerprint": ["{{ default }}", 1],
        "user": {"id": 1, "segment": "x"},
        "request": {"url": "http://h/p?q=1"},
        "contexts": {"os": {"name": "Linux"}},
        "modules": {"m": "1"},
        "extra": {"k": [1, 2]},
        "sdk": {"name": "sentry.test", "version": "1"}
    }));
    let json = serde_json::to_string(&event).expect("serialize");
    assert!(!json.contains("null"), "no null fields: {json}");
    assert!(json.contains(r#""exception":{"values":["#));
    assert!(json.contains(r#""logentry":{"formatted":"hello"}"#));
    assert!(json.contains(r#""tags":[["a","b"]]"#));
    let back: Event = serde_json::from_str(&json).expect("deserialize");
    assert_eq!(back, event);
    // The stored form is itself a valid input and normalizes to the same event.
    let again = normalize_event(json.as_bytes(), &ctx()).expect("re-normalize");
    assert_eq!(again, event);
}

#[test]
fn five_kilobyte_event_normalizes_quickly() {
    // Performance guard, not a benchmark: well under 100 µs per 5 KB event in release builds;
    // debug builds are ~10x slower, so the bound here is generous.
    let frames: Vec<Value> = (0..30)
        .map(|i| {
            json!({"filename": format!("app/mod{i}.py"), "function": format!("f{i}"),
                        "module": format!("app.mod{i}"), "lineno": i, "in_app": i % 2 == 0,
                        "context_line": "    x = compute(y)"})
        })
        .collect();
    let payload = serde_json::to_vec(&json!({
        "event_id": "9ec79c33ec9942ab8353589fcb2e04dc",
        "timestamp": NOW,
        "exception": {"values": [{"type": "ValueError", "value": "bad", "stacktrace": {"frames": frames}}]},
        "tags": {"a": "b", "c": "d"},
        "breadcrumbs": {"values": [{"timestamp": NOW, "message": "m"}]}
    }))
    .expect("payload");
    assert!(payload.len() > 3_000, "{}", payload.len());
    let started = std::time::Instant::now();
    let rounds = 200;
    for _ in 0..rounds {
        normalize_event(&payload, &ctx()).expect("event");
    }
    let per_event = started.elapsed() / rounds;
    assert!(per_event.as_micros() < 2_000, "{per_event:?} per event");
}

/// Issue 12, row 4: a bad `level` or `timestamp` is dropped and noted; the event is kept, as
/// an error received now (Relay's rule).
#[test]
fn bad_level_and_timestamp_are_dropped_not_fatal() {
    for (value, kept) in [
        (json!({"level": "verbose"}), json!("verbose")),
        (json!({"level": ""}), json!("")),
        (json!({"level": 11}), json!(11)),
        (json!({"level": -1}), json!(-1)),
        (json!({"level": true}), json!(true)),
    ] {
        let event = normalize(value.clone());
        assert_eq!(event.level, Level::Error, "{value}");
        let note = event
            .errors
            .iter()
            .find(|e| e.name.as_deref() == Some("level"))
            .unwrap_or_else(|| panic!("{value}: no note in {:?}", event.errors));
        assert_eq!(note.value.as_ref(), Some(&kept), "{value}");
    }
    for value in [json!("not a date"), json!("soon"), json!([1])] {
        let event = normalize(json!({"timestamp": value, "level": "warning"}));
        assert_eq!(event.level, Level::Warning);
        assert_eq!(event.timestamp, ctx().received_at, "{value}");
        assert!(
            event
                .errors
                .iter()
                .any(|e| e.name.as_deref() == Some("timestamp")),
            "{value}: {:?}",
            event.errors
        );
    }
}
