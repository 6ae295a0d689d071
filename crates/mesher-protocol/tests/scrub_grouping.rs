//! Issue 11: scrubbing does not change grouping. Every event of the grouping corpus, with
//! secrets and card numbers planted where SDKs put them (frame variables, request headers,
//! extra, breadcrumbs, tags, contexts), groups the same before and after scrubbing with the
//! strictest settings, and the secrets are gone.

use std::path::Path;

use mesher_protocol::grouping;
use mesher_protocol::scrub::{FILTERED, ScrubConfig, scrub_event};
use mesher_protocol::{Event, EventId, NormalizeContext, Timestamp, normalize_event};
use serde_json::{Value, json};

const SECRET: &str = "hunter2-sesame";
const CARD: &str = "4111 1111 1111 1111";

/// The corpus payload with secrets planted in the fields scrubbing rewrites.
fn planted(mut payload: Value) -> Value {
    let obj = payload.as_object_mut().expect("corpus events are objects");
    let extra = obj.entry("extra").or_insert_with(|| json!({}));
    extra["password"] = json!(SECRET);
    extra["order"] = json!({"card": CARD, "note": format!("paid with {CARD}")});
    obj.insert(
        "request".into(),
        json!({
            "url": "https://shop.example/pay",
            "headers": {"Authorization": format!("Bearer {SECRET}"), "Cookie": format!("sessionid={SECRET}")},
            "env": {"REMOTE_ADDR": "203.0.113.9"}
        }),
    );
    obj.insert(
        "user".into(),
        json!({"id": "u1", "ip_address": "203.0.113.9"}),
    );
    let crumb = json!({"message": format!("card {CARD}"), "data": {"token": SECRET}});
    match obj.get_mut("breadcrumbs") {
        Some(Value::Object(b)) => {
            if let Some(values) = b
                .entry("values")
                .or_insert_with(|| json!([]))
                .as_array_mut()
            {
                values.push(crumb);
            }
        }
        Some(Value::Array(b)) => b.push(crumb),
        _ => {
            obj.insert("breadcrumbs".into(), json!([crumb]));
        }
    }
    let contexts = obj.entry("contexts").or_insert_with(|| json!({}));
    contexts["payment"] = json!({"type": "payment", "api_key": SECRET});
    // Variables of every frame of every exception.
    if let Some(values) = obj
        .get_mut("exception")
        .and_then(|e| e.get_mut("values"))
        .and_then(Value::as_array_mut)
    {
        for exception in values {
            if let Some(frames) = exception
                .pointer_mut("/stacktrace/frames")
                .and_then(Value::as_array_mut)
            {
                for frame in frames {
                    frame["vars"] = json!({"password": SECRET, "card": CARD, "n": 3});
                }
            }
        }
    }
    payload
}

fn normalize(payload: &Value) -> Event {
    let ctx = NormalizeContext::new(
        Timestamp::from_unix_seconds(1_714_564_800).expect("time"),
        EventId::from_bytes([9; 16]),
    );
    normalize_event(payload.to_string().as_bytes(), &ctx).expect("corpus events normalize")
}

#[test]
fn issue_11_scrubbing_keeps_every_corpus_fingerprint() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/grouping");
    let strictest = ScrubConfig::new(true, true, &["n".to_owned()], &[]);
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let original: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let payload = planted(original.clone());
        let before = grouping::fingerprint(&normalize(&original));
        let mut event = normalize(&payload);
        assert_eq!(
            grouping::fingerprint(&event),
            before,
            "{name}: planting secrets in non-grouping fields changed the fingerprint"
        );
        for config in [ScrubConfig::default(), strictest.clone()] {
            let mut scrubbed = event.clone();
            let n = scrub_event(&mut scrubbed, &config);
            assert!(n >= 8, "{name}: only {n} values scrubbed");
            assert_eq!(
                grouping::fingerprint(&scrubbed),
                before,
                "{name}: scrubbing changed the fingerprint"
            );
            let stored = serde_json::to_string(&scrubbed).unwrap();
            assert!(!stored.contains(SECRET), "{name}: secret left in {stored}");
            assert!(!stored.contains(CARD), "{name}: card left in {stored}");
            assert!(stored.contains(FILTERED));
            assert_eq!(scrubbed.meta.scrubbed, n);
        }
        scrub_event(&mut event, &strictest);
        assert!(
            !serde_json::to_string(&event)
                .unwrap()
                .contains("203.0.113.9"),
            "{name}: IP kept"
        );
        checked += 1;
    }
    assert!(checked >= 40, "the corpus has {checked} events");
}
