//! Properties of grouping (GROUP-01, GROUP-02): fingerprints are deterministic (also across the
//! stored JSON round trip), independent of line and column numbers and of recursion depth, and
//! independent of the values message normalization replaces.

use mesher_protocol::grouping::{self, Fingerprint};
use mesher_protocol::{Event, EventId, NormalizeContext, Timestamp, normalize_event_value};
use proptest::prelude::*;
use serde_json::{Value, json};

fn normalize(payload: Value) -> Event {
    let ctx = NormalizeContext::new(
        Timestamp::from_unix_seconds(1_714_564_800).expect("time"),
        EventId::from_bytes([3; 16]),
    );
    normalize_event_value(payload, &ctx).expect("valid event")
}

fn fingerprint(payload: Value) -> Fingerprint {
    grouping::fingerprint(&normalize(payload))
}

/// A frame without position: module, function, context line, in-app.
#[derive(Debug, Clone)]
struct FrameSpec {
    module: Option<&'static str>,
    filename: &'static str,
    function: &'static str,
    context_line: Option<&'static str>,
    in_app: Option<bool>,
}

fn frame_spec() -> impl Strategy<Value = FrameSpec> {
    (
        prop::option::of(prop::sample::select(vec![
            "app.views",
            "app.models",
            "lib.http",
            "server",
        ])),
        prop::sample::select(vec!["app/views.py", "src/server.js", "Main.java", "lib.rb"]),
        prop::sample::select(vec![
            "index",
            "Object.load",
            "lambda$main$0",
            "block (2 levels) in run",
            "<lambda>",
            "?",
            "handle",
        ]),
        prop::option::of(prop::sample::select(vec![
            "return load(x)",
            "  raise Error()",
            "call();",
        ])),
        prop::option::of(any::<bool>()),
    )
        .prop_map(
            |(module, filename, function, context_line, in_app)| FrameSpec {
                module,
                filename,
                function,
                context_line,
                in_app,
            },
        )
}

fn platform() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "python",
        "node",
        "javascript",
        "java",
        "ruby",
        "php",
        "native",
    ])
}

/// Frames as an SDK sends them, with the given line and column numbers.
fn frames_json(frames: &[FrameSpec], positions: &[(u64, u64)]) -> Value {
    Value::Array(
        frames
            .iter()
            .zip(positions.iter().cycle())
            .map(|(f, &(lineno, colno))| {
                json!({
                    "module": f.module,
                    "filename": f.filename,
                    "abs_path": format!("/srv/{}", f.filename),
                    "function": f.function,
                    "context_line": f.context_line,
                    "in_app": f.in_app,
                    "lineno": lineno,
                    "colno": colno,
                })
            })
            .collect(),
    )
}

fn positions() -> impl Strategy<Value = Vec<(u64, u64)>> {
    prop::collection::vec((1u64..100_000, 1u64..500), 1..12)
}

fn exception_event(platform: &str, ty: &str, frames: Value) -> Value {
    json!({
        "platform": platform,
        "exception": {"values": [{"type": ty, "value": "boom", "stacktrace": {"frames": frames}}]}
    })
}

/// Kinds of variable values that normalization replaces.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Int,
    Float,
    Uuid,
    Email,
    Ipv4,
    Hex,
    Duration,
    Date,
}

fn slot_value(slot: Slot) -> BoxedStrategy<String> {
    match slot {
        Slot::Int => (0u32..10_000_000).prop_map(|n| n.to_string()).boxed(),
        Slot::Float => (0u32..100_000, 0u32..1000)
            .prop_map(|(a, b)| format!("{a}.{b}"))
            .boxed(),
        Slot::Uuid => any::<u128>()
            .prop_map(|n| {
                let h = format!("{n:032x}");
                format!(
                    "{}-{}-{}-{}-{}",
                    &h[..8],
                    &h[8..12],
                    &h[12..16],
                    &h[16..20],
                    &h[20..]
                )
            })
            .boxed(),
        Slot::Email => (
            "[a-z][a-z0-9._+-]{0,10}",
            "[a-z][a-z0-9-]{0,10}",
            "(com|org|net|io)",
        )
            .prop_map(|(local, domain, tld)| format!("{local}@{domain}.{tld}"))
            .boxed(),
        Slot::Ipv4 => any::<[u8; 4]>()
            .prop_map(|[a, b, c, d]| format!("{a}.{b}.{c}.{d}"))
            .boxed(),
        Slot::Hex => any::<u64>().prop_map(|n| format!("0x{n:x}")).boxed(),
        Slot::Duration => (0u32..1_000_000, prop::sample::select(vec!["ms", "s", "us"]))
            .prop_map(|(n, unit)| format!("{n}{unit}"))
            .boxed(),
        Slot::Date => (
            2000i32..2100,
            1u32..13,
            1u32..29,
            0u32..24,
            0u32..60,
            0u32..60,
        )
            .prop_map(|(y, mo, d, h, mi, s)| {
                format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
            })
            .boxed(),
    }
}

fn slot() -> impl Strategy<Value = Slot> {
    prop::sample::select(vec![
        Slot::Int,
        Slot::Float,
        Slot::Uuid,
        Slot::Email,
        Slot::Ipv4,
        Slot::Hex,
        Slot::Duration,
        Slot::Date,
    ])
}

/// Words of a message template, each optionally followed by a variable value.
type Template = Vec<(&'static str, Option<Slot>)>;

fn template() -> impl Strategy<Value = Template> {
    let word = prop::sample::select(vec![
        "failed",
        "user",
        "order",
        "timeout",
        "connection",
        "from",
        "after",
        "request",
        "retry",
        "error:",
        "(id",
        "job",
        "#",
    ]);
    prop::collection::vec((word, prop::option::of(slot())), 1..8)
}

fn render(template: &Template, values: &[String]) -> String {
    let mut values = values.iter();
    let mut out = Vec::new();
    for (word, slot) in template {
        out.push((*word).to_owned());
        if slot.is_some() {
            out.push(values.next().cloned().unwrap_or_default());
        }
    }
    out.join(" ")
}

/// The same template filled twice with independent values.
fn message_pair() -> impl Strategy<Value = (String, String)> {
    template()
        .prop_flat_map(|t| {
            let slots: Vec<BoxedStrategy<String>> =
                t.iter().filter_map(|(_, s)| s.map(slot_value)).collect();
            (Just(t), slots.clone(), slots)
        })
        .prop_map(|(t, a, b)| (render(&t, &a), render(&t, &b)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn deterministic_and_stable_across_storage_group_01(
        platform in platform(),
        frames in prop::collection::vec(frame_spec(), 1..10),
        positions in positions(),
        (message, _) in message_pair(),
    ) {
        let mut payload = exception_event(platform, "ValueError", frames_json(&frames, &positions));
        payload["logentry"] = json!({"formatted": message});
        let event = normalize(payload);
        let first = grouping::fingerprint(&event);
        prop_assert_eq!(&grouping::fingerprint(&event), &first);
        // The server stores the normalized event as JSON; grouping it again must agree.
        let stored: Event = serde_json::from_slice(&serde_json::to_vec(&event).expect("serialize"))
            .expect("deserialize");
        prop_assert_eq!(grouping::fingerprint(&stored), first);
    }

    #[test]
    fn independent_of_line_and_column_numbers_group_01(
        platform in platform(),
        frames in prop::collection::vec(frame_spec(), 1..10),
        a in positions(),
        b in positions(),
    ) {
        let fa = fingerprint(exception_event(platform, "KeyError", frames_json(&frames, &a)));
        let fb = fingerprint(exception_event(platform, "KeyError", frames_json(&frames, &b)));
        prop_assert_eq!(&fa.hash, &fb.hash);
        prop_assert_eq!(fa.components, fb.components);
    }

    #[test]
    fn independent_of_recursion_depth_group_01(
        platform in platform(),
        outer in prop::collection::vec(frame_spec(), 0..4),
        recursive in frame_spec(),
        inner in prop::collection::vec(frame_spec(), 0..4),
        depth_a in 1usize..40,
        depth_b in 1usize..40,
    ) {
        let stack = |depth: usize| {
            let mut frames = outer.clone();
            frames.extend(std::iter::repeat_n(recursive.clone(), depth));
            frames.extend(inner.iter().cloned());
            frames_json(&frames, &[(7, 3)])
        };
        let fa = fingerprint(exception_event(platform, "RecursionError", stack(depth_a)));
        let fb = fingerprint(exception_event(platform, "RecursionError", stack(depth_b)));
        prop_assert_eq!(fa.hash, fb.hash);
    }

    #[test]
    fn messages_independent_of_replaced_values_group_02((a, b) in message_pair()) {
        let fa = fingerprint(json!({"message": a}));
        let fb = fingerprint(json!({"message": b}));
        prop_assert_eq!(&fa.components, &fb.components, "{} / {}", a, b);
        prop_assert_eq!(fa.hash, fb.hash);
        prop_assert_eq!(grouping::normalize_message(&a), grouping::normalize_message(&b));
    }

    #[test]
    fn exception_values_independent_of_replaced_values_group_02((a, b) in message_pair()) {
        let event = |value: &str| json!({"exception": [{"type": "LookupError", "value": value}]});
        let fa = fingerprint(event(&a));
        let fb = fingerprint(event(&b));
        prop_assert_eq!(&fa.components, &fb.components, "{} / {}", a, b);
        prop_assert_eq!(fa.hash, fb.hash);
    }

    #[test]
    fn normalization_never_panics_and_is_idempotent(text in "\\PC{0,200}") {
        let once = grouping::normalize_message(&text);
        prop_assert_eq!(grouping::normalize_message(&once), once.clone());
    }
}
