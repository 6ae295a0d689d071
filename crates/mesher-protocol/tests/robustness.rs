//! Never panic on any input (INGEST-02): random bytes, truncations and mutations of valid
//! envelopes, and events whose known fields hold values of every JSON shape. A small
//! deterministic generator stands in for a property-testing crate to keep the build light.

use mesher_protocol::{
    EventId, NormalizeContext, Timestamp, normalize_event, normalize_event_value, parse_basic_auth,
    parse_bearer, parse_client_report, parse_envelope, parse_query_auth, parse_sentry_auth,
};
use serde_json::{Map, Value, json};

/// xorshift64*: deterministic, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        // Bias towards bytes that matter to the parsers.
        const INTERESTING: &[u8] = b"{}[]\":,\n\r 0123456789-.eE\\tfnul";
        (0..len)
            .map(|_| {
                if self.below(2) == 0 {
                    INTERESTING[self.below(INTERESTING.len())]
                } else {
                    self.next() as u8
                }
            })
            .collect()
    }
}

fn ctx() -> NormalizeContext {
    let mut ctx = NormalizeContext::new(
        Timestamp::from_unix_seconds(1_714_564_800).expect("time"),
        EventId::from_bytes([3; 16]),
    );
    ctx.sent_at = Some(Timestamp::from_unix_seconds(1_000).expect("time"));
    ctx.client_ip = Some("::1".parse().expect("ip"));
    ctx
}

/// Feeds one byte string to every parser that takes untrusted input.
fn feed_everything(bytes: &[u8], ctx: &NormalizeContext) {
    if let Ok(envelope) = parse_envelope(bytes) {
        for item in envelope.items() {
            let _ = normalize_event(item.payload, ctx);
            let _ = parse_client_report(item.payload);
            let _ = (item.filename(), item.attachment_type(), item.content_type());
        }
        let _ = envelope.item_counts();
    }
    let _ = normalize_event(bytes, ctx);
    let _ = parse_client_report(bytes);
    let text = String::from_utf8_lossy(bytes);
    let _ = parse_sentry_auth(&text);
    let _ = parse_basic_auth(&text);
    let _ = parse_bearer(&text);
    let _ = parse_query_auth(&text);
    let _ = mesher_protocol::Dsn::parse(&text);
    let _ = EventId::parse(&text);
    let _ = Timestamp::parse(&text);
}

#[test]
fn random_bytes_never_panic() {
    let ctx = ctx();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..3_000 {
        let len = rng.below(200);
        let bytes = rng.bytes(len);
        feed_everything(&bytes, &ctx);
        // The same bytes behind a valid envelope header and item header.
        let mut framed = b"{}\n{\"type\":\"event\"}\n".to_vec();
        framed.extend_from_slice(&bytes);
        feed_everything(&framed, &ctx);
    }
}

#[test]
fn truncated_and_mutated_envelopes_never_panic() {
    let ctx = ctx();
    let event = r#"{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","timestamp":1714564799.5,"level":"warning","exception":{"values":[{"type":"E","value":"v","stacktrace":{"frames":[{"function":"f","lineno":1}]}}]},"breadcrumbs":[{"timestamp":1714564799,"message":"m"}],"tags":{"a":"b"},"fingerprint":["{{ default }}"]}"#;
    let valid = format!(
        "{{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\",\"sent_at\":\"2024-05-01T12:00:00Z\"}}\n\
         {{\"type\":\"event\",\"length\":{}}}\n{event}\n\
         {{\"type\":\"attachment\",\"length\":4,\"filename\":\"a.txt\"}}\nab\r\n\n\
         {{\"type\":\"client_report\"}}\n{{\"discarded_events\":[{{\"reason\":\"x\",\"category\":\"error\",\"quantity\":1}}]}}\n",
        event.len()
    );
    let bytes = valid.as_bytes();
    assert_eq!(parse_envelope(bytes).expect("valid").len(), 3);
    for cut in 0..=bytes.len() {
        feed_everything(&bytes[..cut], &ctx);
    }
    let mut rng = Rng(42);
    for _ in 0..2_000 {
        let mut mutated = bytes.to_vec();
        for _ in 0..=rng.below(4) {
            let at = rng.below(mutated.len());
            match rng.below(3) {
                0 => mutated[at] = rng.next() as u8,
                1 => {
                    mutated.remove(at);
                }
                _ => mutated.insert(at, rng.bytes(1)[0]),
            }
        }
        feed_everything(&mutated, &ctx);
    }
}

/// Values of every JSON shape, including edge cases of each.
fn shapes() -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(false),
        json!(0),
        json!(-1),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(1.5),
        json!(-1e308),
        json!(1e308),
        json!(""),
        json!("{{auto}}"),
        json!("line\nbreak"),
        json!("2024-05-01T12:00:00Z"),
        json!("é".repeat(300)),
        json!("%s %(x)s {0} {} {{"),
        json!([]),
        json!([null]),
        json!([1, "a", null, {"b": 2}]),
        json!([["k", "v"], ["k2", 3], [1, 2, 3]]),
        json!({}),
        json!({"values": null}),
        json!({"values": 5}),
        json!({"values": [{"type": 1, "value": [2]}, 7, null]}),
        json!({"frames": [{"lineno": -5, "colno": 1e300, "vars": 3}, "x"]}),
        json!({"type": {}, "message": ["x"], "params": "p", "formatted": 3}),
    ]
}

const FIELDS: &[&str] = &[
    "event_id",
    "timestamp",
    "level",
    "platform",
    "logger",
    "transaction",
    "server_name",
    "release",
    "dist",
    "environment",
    "message",
    "logentry",
    "exception",
    "threads",
    "stacktrace",
    "breadcrumbs",
    "tags",
    "contexts",
    "user",
    "request",
    "sdk",
    "fingerprint",
    "modules",
    "extra",
];

#[test]
fn every_field_with_every_shape_never_panics() {
    let ctx = ctx();
    let shapes = shapes();
    for field in FIELDS {
        for shape in &shapes {
            let mut obj = Map::new();
            obj.insert((*field).to_owned(), shape.clone());
            let _ = normalize_event_value(Value::Object(obj.clone()), &ctx);
            // Nested one level deeper, where interfaces keep their own fields.
            let mut outer = Map::new();
            outer.insert((*field).to_owned(), Value::Object(obj));
            let _ = normalize_event_value(Value::Object(outer), &ctx);
            // Inside an exception / frame / breadcrumb / user / request object.
            let nested = json!({
                "exception": [{"type": "E", (*field): shape.clone(),
                               "mechanism": {(*field): shape.clone()},
                               "stacktrace": {"frames": [{(*field): shape.clone()}]}}],
                "breadcrumbs": [{(*field): shape.clone()}],
                "user": {(*field): shape.clone()},
                "request": {(*field): shape.clone()},
                "sdk": {(*field): shape.clone()},
            });
            let _ = normalize_event_value(nested, &ctx);
        }
    }
    let mut rng = Rng(7);
    for _ in 0..2_000 {
        let mut obj = Map::new();
        for _ in 0..rng.below(8) {
            let field = FIELDS[rng.below(FIELDS.len())];
            obj.insert(field.to_owned(), shapes[rng.below(shapes.len())].clone());
        }
        if let Ok(event) = normalize_event_value(Value::Object(obj), &ctx) {
            // Whatever was accepted must serialize and read back.
            let json = serde_json::to_vec(&event).expect("serialize");
            let back: mesher_protocol::Event = serde_json::from_slice(&json).expect("round trip");
            assert_eq!(back, event);
            let _ = (event.title(), event.culprit(), event.search_text());
        }
    }
}

#[test]
fn deeply_nested_json_is_rejected_not_overflowing() {
    let deep = format!(
        "{{\"extra\":{}1{}}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    assert!(normalize_event(deep.as_bytes(), &ctx()).is_err());
    let deep_header = format!("{}\n", "[".repeat(100_000));
    assert!(parse_envelope(deep_header.as_bytes()).is_err());
}

/// Inputs the fuzz targets (fuzz/ at the repository root) found failing, one file each in
/// tests/fuzz/, named `<target>-<what went wrong>`. Each must now normalize (or be refused)
/// without a panic, and an accepted event must read back from its stored form and group
/// the same.
#[test]
fn fuzz_findings_stay_fixed() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/fuzz")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for path in files {
        let data = std::fs::read(&path).expect("read");
        let Ok(event) = normalize_event(&data, &ctx()) else {
            continue;
        };
        let stored = serde_json::to_vec(&event).expect("serialize");
        let back: mesher_protocol::Event = serde_json::from_slice(&stored).unwrap_or_else(|e| {
            panic!(
                "{}: the stored event does not read back: {e}",
                path.display()
            )
        });
        assert_eq!(back, event, "{}", path.display());
        assert_eq!(
            mesher_protocol::grouping::fingerprint(&back).hash,
            mesher_protocol::grouping::fingerprint(&event).hash,
            "{}",
            path.display()
        );
    }
}
