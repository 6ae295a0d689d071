//! The grouping corpus (GROUP-01 … GROUP-03): events captured from sentry-sdk 2.75 and
//! @sentry/node 11.12, and events shaped like what @sentry/browser 11 and the Rust `sentry`
//! crate send (see `tests/grouping/README.md`), pushed through normalization and grouping the way
//! the server does, with the same/different decisions Mesher must make about them.

use std::path::{Path, PathBuf};

use mesher_protocol::grouping::{
    self, ComponentId, Fingerprint, FrameSelection, GroupingKind, Hint,
};
use mesher_protocol::{Event, EventId, NormalizeContext, Timestamp, normalize_event};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/grouping")
}

fn load(name: &str) -> Event {
    let path = corpus_dir().join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let ctx = NormalizeContext::new(
        Timestamp::from_unix_seconds(1_714_564_800).expect("time"),
        EventId::from_bytes([9; 16]),
    );
    normalize_event(&bytes, &ctx).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn fingerprint(name: &str) -> Fingerprint {
    grouping::fingerprint(&load(name))
}

/// One decision: do events `a` and `b` belong to the same issue?
struct Case {
    a: &'static str,
    b: &'static str,
    same: bool,
    why: &'static str,
}

const fn same(a: &'static str, b: &'static str, why: &'static str) -> Case {
    Case {
        a,
        b,
        same: true,
        why,
    }
}

const fn different(a: &'static str, b: &'static str, why: &'static str) -> Case {
    Case {
        a,
        b,
        same: false,
        why,
    }
}

/// GROUP-01: stack traces decide; line numbers, deploys and recursion depth do not.
const STACK_CASES: &[Case] = &[
    same(
        "py_keyerror.json",
        "py_keyerror_moved.json",
        "same exception raised from other line numbers",
    ),
    same(
        "py_parse_abc.json",
        "py_parse_x17.json",
        "same code, values and line numbers differ",
    ),
    same(
        "py_chained.json",
        "py_chained_moved.json",
        "chained exceptions, lines moved, ids in the value",
    ),
    same(
        "py_recursion_3.json",
        "py_recursion_9.json",
        "recursion depth differs",
    ),
    different(
        "py_keyerror.json",
        "py_typeerror.json",
        "different functions and exception types",
    ),
    different(
        "py_keyerror.json",
        "py_chained.json",
        "a chain is not its cause alone",
    ),
    different("py_recursion_3.json", "py_keyerror.json", "different code"),
    different(
        "py_attach_cache.json",
        "py_attach_index.json",
        "messages with stacks from different functions",
    ),
    same(
        "node_typeerror.json",
        "node_typeerror_moved.json",
        "same exception raised from other line numbers",
    ),
    same(
        "node_recursion_3.json",
        "node_recursion_9.json",
        "recursion depth differs (`Object.walk` → `walk`)",
    ),
    same(
        "node_cause.json",
        "node_cause_moved.json",
        "cause chain, lines moved, ids in the value",
    ),
    same(
        "node_any_2.json",
        "node_any_3.json",
        "Promise.any rejected by two and by three alike shards (an exception group of one error)",
    ),
    same(
        "node_bundle_3f2a1b9c.json",
        "node_bundle_9e8d7c6b.json",
        "bundle hash in the file name changed",
    ),
    same(
        "node_message_a.json",
        "node_message_b.json",
        "captureMessage from one call site, different ids",
    ),
    different(
        "node_typeerror.json",
        "node_rangeerror.json",
        "different functions and exception types",
    ),
    different(
        "node_message_a.json",
        "node_message_other_site.json",
        "same text from another call site",
    ),
    same(
        "browser_bundle_BxY3kZ9a.json",
        "browser_bundle_D8f3Kp2Q.json",
        "minified bundle hash and columns changed",
    ),
    same(
        "browser_bundle_BxY3kZ9a.json",
        "browser_cache_buster.json",
        "`?v=` cache buster instead of a hash",
    ),
    different(
        "browser_bundle_BxY3kZ9a.json",
        "browser_other_handler.json",
        "different handler function",
    ),
    same(
        "rust_panic.json",
        "rust_panic_moved_new_sdk.json",
        "line moved and the SDK's panic hook frames renamed",
    ),
    different(
        "rust_panic.json",
        "rust_panic_other_function.json",
        "panic in another function",
    ),
];

/// GROUP-02: without a stack trace, type and value, then the message, parameterized.
const FALLBACK_CASES: &[Case] = &[
    same(
        "py_message_a.json",
        "py_message_b.json",
        "ids, numbers, e-mails, IPs, durations, UUIDs, dates",
    ),
    different(
        "py_message_a.json",
        "py_message_other.json",
        "different messages",
    ),
    same(
        "py_logging_a.json",
        "py_logging_b.json",
        "same logging template, other parameters",
    ),
    same(
        "rust_io_enoent.json",
        "rust_io_enoent_again.json",
        "same io::Error",
    ),
    different(
        "rust_io_enoent.json",
        "rust_io_eacces.json",
        "different io::Error",
    ),
    same(
        "rust_message_a.json",
        "rust_message_b.json",
        "ids, UUIDs and durations in a message",
    ),
];

/// GROUP-03: client fingerprints.
const FINGERPRINT_CASES: &[Case] = &[
    same(
        "py_fingerprint_default_only.json",
        "py_keyerror.json",
        "[\"{{ default }}\"] is the default",
    ),
    different(
        "py_fingerprint_hybrid.json",
        "py_keyerror.json",
        "{{ default }} plus a value splits",
    ),
    same(
        "py_fingerprint_custom_keyerror.json",
        "py_fingerprint_custom_typeerror.json",
        "one custom fingerprint, different errors",
    ),
    different(
        "py_fingerprint_custom_keyerror.json",
        "py_keyerror.json",
        "custom fingerprint overrides grouping",
    ),
];

fn check(cases: &[Case]) {
    let mut failures = Vec::new();
    for case in cases {
        let (a, b) = (fingerprint(case.a), fingerprint(case.b));
        if (a.hash == b.hash) != case.same {
            failures.push(format!(
                "{} vs {}: expected {} ({})\n  a: {:?}\n  b: {:?}",
                case.a,
                case.b,
                if case.same { "same" } else { "different" },
                case.why,
                a.components,
                b.components
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Issue 18: an exception group holding one distinct error is titled by that error, as Sentry
/// titles it by its `main_exception_id`; a chain without a group keeps the raised exception.
#[test]
fn an_exception_group_of_one_error_is_titled_by_it() {
    for name in ["node_any_2.json", "node_any_3.json"] {
        let event = load(name);
        assert_eq!(
            event.exception.first().unwrap().ty.as_deref(),
            Some("Error")
        );
        assert_eq!(
            event.exception.last().unwrap().ty.as_deref(),
            Some("AggregateError")
        );
        assert_eq!(event.title(), "Error: shard 1 unavailable", "{name}");
    }
    assert!(
        load("node_cause.json")
            .title()
            .starts_with("Error: request ")
    );
}

#[test]
fn stack_trace_decisions_group_01() {
    check(STACK_CASES);
}

#[test]
fn fallback_decisions_group_02() {
    check(FALLBACK_CASES);
}

#[test]
fn client_fingerprint_decisions_group_03() {
    check(FINGERPRINT_CASES);
}

#[test]
fn every_fixture_is_decided_and_hashes_to_fixed_width_hex() {
    let mut used: Vec<&str> = [STACK_CASES, FALLBACK_CASES, FINGERPRINT_CASES]
        .into_iter()
        .flatten()
        .flat_map(|c| [c.a, c.b])
        .collect();
    used.sort_unstable();
    used.dedup();
    let mut files: Vec<String> = std::fs::read_dir(corpus_dir())
        .expect("corpus dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    files.sort_unstable();
    assert_eq!(files, used, "every fixture takes part in a decision");
    for name in &files {
        let f = fingerprint(name);
        assert_eq!(f.hash.len(), grouping::HASH_HEX_LEN, "{name}");
        assert!(
            f.hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{name}: {}",
            f.hash
        );
        assert_eq!(
            grouping::fingerprint(&load(name)),
            f,
            "{name}: deterministic"
        );
    }
}

#[test]
fn what_contributed_group_01_02_03() {
    let expect = |name: &str, kind, frames, components: &[&str]| {
        let f = fingerprint(name);
        assert_eq!((f.kind, f.frames), (kind, frames), "{name}");
        assert_eq!(f.components, components, "{name}");
    };
    use GroupingKind::*;
    let app = Some(FrameSelection::App);
    expect(
        "py_keyerror.json",
        ExceptionStacktrace,
        app,
        &[
            "shop.views",
            "profile",
            "return load_user(request)",
            "shop.models",
            "load_user",
            "return data[\"user_id\"]",
            "KeyError",
        ],
    );
    expect(
        "py_recursion_9.json",
        ExceptionStacktrace,
        app,
        &[
            "shop.views",
            "tree",
            "return walk(request[\"root\"], request[\"depth\"])",
            "shop.models",
            "walk",
            "return walk(node, depth - 1)",
            "shop.models",
            "walk",
            "raise LookupError(\"tree too deep below \" + node)",
            "LookupError",
        ],
    );
    expect(
        "py_message_a.json",
        Message,
        None,
        &["Payment <int> failed for <email> from <ip> after <duration> (request <uuid> at <date>)"],
    );
    expect(
        "py_logging_a.json",
        Message,
        None,
        &["User %s not found in shard %d"],
    );
    expect(
        "py_attach_cache.json",
        ThreadStacktrace,
        app,
        &[
            "shop.views",
            "warm_cache",
            "sentry_sdk.capture_message(\"Cache warmup finished with errors\")",
        ],
    );
    expect(
        "py_fingerprint_custom_keyerror.json",
        Custom,
        None,
        &["database-unavailable"],
    );
    expect(
        "node_message_a.json",
        ExceptionStacktrace,
        app,
        &["server", "report", "Sentry.captureMessage(message);"],
    );
    expect(
        "node_bundle_9e8d7c6b.json",
        ExceptionStacktrace,
        app,
        &[
            "main",
            "readUser",
            "return req.session.user.id;",
            "TypeError",
        ],
    );
    expect(
        "browser_bundle_D8f3Kp2Q.json",
        ExceptionStacktrace,
        app,
        &[
            "assets/vendor",
            "Tg",
            "assets/index",
            "loadCart",
            "assets/index",
            "handleClick",
            "TypeError",
        ],
    );
    expect(
        "rust_panic_moved_new_sdk.json",
        ExceptionStacktrace,
        app,
        &[
            "main.rs",
            "worker::main",
            "jobs.rs",
            "worker::jobs::run",
            "panic",
        ],
    );
    expect(
        "rust_io_eacces.json",
        Exception,
        None,
        &["Os", "Permission denied (os error <int>)"],
    );
    expect(
        "rust_message_b.json",
        Message,
        None,
        &["Retrying job <int> for tenant <uuid> in <duration>"],
    );
    let hybrid = fingerprint("py_fingerprint_hybrid.json");
    assert_eq!(hybrid.kind, Hybrid);
    assert_eq!(
        hybrid.components.first().map(String::as_str),
        Some("payment-gateway")
    );
    assert_eq!(
        hybrid.components[1..],
        fingerprint("py_keyerror.json").components[..]
    );
}

#[test]
fn explanation_names_skipped_frames_and_why() {
    let f = fingerprint("rust_panic.json");
    let tree = f.tree();
    let frames = &tree.children[0].children;
    let hints: Vec<Option<Hint>> = frames.iter().map(|c| c.hint).collect();
    assert_eq!(
        hints,
        [
            Some(Hint::NotInApp),
            None,
            None,
            Some(Hint::NotInApp),
            Some(Hint::NotInApp),
            Some(Hint::NotInApp),
            Some(Hint::SdkFrame),
            Some(Hint::SdkFrame),
            Some(Hint::SdkFrame),
        ],
        "Rust runtime frames are not in-app; the SDK's own (in-app) frames never count"
    );
    let json = f.explanation();
    let text: serde_json::Value = serde_json::from_str(&f.explanation_json()).unwrap();
    assert_eq!(text, json, "the stored text is the explanation");
    assert_eq!(json["kind"], "exception_stacktrace");
    assert_eq!(json["tree"]["children"][0]["id"], "stacktrace");

    let recursion = fingerprint("node_recursion_9.json");
    let tree = recursion.tree();
    let stack = tree
        .children
        .iter()
        .find(|c| c.id == ComponentId::Stacktrace)
        .expect("stack");
    let skipped = stack
        .children
        .iter()
        .filter(|c| c.hint == Some(Hint::Recursion))
        .count();
    // Node keeps ten frames: nine calls of `walk` at the recursive line (the first counts) and
    // the one that threw.
    assert_eq!(skipped, 8);
}

/// A deep in-app stack: every frame's module and function contribute, never the line, and the
/// fingerprint is the same every time (the criterion benchmark in mesher-bench times this case).
#[test]
fn deep_stacks_contribute_every_in_app_frame() {
    let mut event = load("py_keyerror.json");
    let stack = event.exception[0].stacktrace.as_mut().expect("stack");
    let template = stack.frames.last().expect("frame").clone();
    stack.frames = (0..20)
        .map(|i| {
            let mut frame = template.clone();
            frame.module = Some(format!("shop.layer{}", i % 7));
            frame.function = Some(format!("handler_{i}"));
            frame.context_line = Some(format!("    return next_step(request, depth={i})"));
            frame.lineno = Some(10 + i);
            frame
        })
        .collect();
    let first = grouping::fingerprint(&event);
    for i in 0..20 {
        let function = format!("handler_{i}");
        assert!(
            first.components.contains(&function),
            "{function} contributes: {:?}",
            first.components
        );
    }
    let stack = event.exception[0].stacktrace.as_mut().expect("stack");
    for frame in &mut stack.frames {
        frame.lineno = frame.lineno.map(|l| l + 100);
    }
    for _ in 0..10 {
        assert_eq!(grouping::fingerprint(&event).hash, first.hash);
    }
}
