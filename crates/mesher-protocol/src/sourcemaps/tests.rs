//! Against a real bundle: `tests/sourcemaps/app.js` built by esbuild 0.28 (`--bundle --minify
//! --sourcemap`), then marked by `sentry-cli sourcemaps inject` (debug ID in both files).

use serde_json::json;

use super::*;
use crate::{EventId, NormalizeContext, Timestamp, normalize_event};

const MAP: &[u8] = include_bytes!("../../tests/sourcemaps/app.min.js.map");
const MINIFIED: &[u8] = include_bytes!("../../tests/sourcemaps/app.min.js");
const DEBUG_ID: &str = "3b394457-5d7b-57c0-b113-3a4c5ed2ef4e";
const URL: &str = "http://localhost:5000/dist/app.min.js";

/// The event a browser SDK sends for `runCheckout()`: frames as V8 reports them.
fn event() -> Event {
    let frame = |function: &str, col: u64| {
        json!({"filename": URL, "abs_path": URL, "function": function, "lineno": 3, "colno": col,
               "in_app": true})
    };
    let payload = json!({
        "platform": "javascript",
        "exception": {"values": [{"type": "TypeError",
            "value": "Cannot read properties of null (reading 'amount')",
            "stacktrace": {"frames": [frame("window.runCheckout", 126), frame("u", 92), frame("n", 55)]}}]},
        "debug_meta": {"images": [{"type": "sourcemap", "code_file": URL, "debug_id": DEBUG_ID}]},
    });
    let ctx = NormalizeContext::new(
        Timestamp::from_unix_seconds(1_714_564_800).unwrap(),
        EventId::from_bytes([7; 16]),
    );
    normalize_event(payload.to_string().as_bytes(), &ctx).unwrap()
}

#[test]
fn frames_read_as_the_original_source() {
    let mut event = event();
    assert_eq!(
        needed(&event),
        [Needed {
            abs_path: URL.into(),
            debug_id: Some(DEBUG_ID.into())
        }]
    );
    let file = SourceMapFile::parse(MAP, Some(MINIFIED), "~/app.min.js.map").unwrap();
    let maps = HashMap::from([(URL.to_string(), Some(Arc::new(file)))]);
    apply(&mut event, &maps);

    let exception = &event.exception[0];
    let frames = &exception.stacktrace.as_ref().unwrap().frames;
    let crashed = &frames[2];
    assert_eq!(crashed.function.as_deref(), Some("computeTotal"));
    assert_eq!(crashed.filename.as_deref(), Some("src/app.js"));
    assert_eq!(
        crashed.abs_path.as_deref(),
        Some("http://localhost:5000/src/app.js")
    );
    assert_eq!(crashed.lineno, Some(4));
    assert_eq!(
        crashed.context_line.as_deref(),
        Some("    total += item.price.amount;")
    );
    assert_eq!(crashed.pre_context.len(), 3, "the file's first lines");
    assert_eq!(crashed.post_context.len(), 5);
    assert_eq!(crashed.data.sourcemap.as_deref(), Some("~/app.min.js.map"));
    let file = SourceMapFile::parse(MAP, None, "x").unwrap();
    assert_eq!(file.debug_id().as_deref(), Some(DEBUG_ID));
    assert_eq!(
        crashed.module, None,
        "browsers send none; grouping reads the URL"
    );
    assert_eq!(frames[1].function.as_deref(), Some("checkout"));
    assert_eq!(frames[1].lineno, Some(9));
    assert_eq!(frames[0].lineno, Some(11));
    // As sent, beside.
    let raw = exception.raw_stacktrace.as_ref().unwrap();
    assert_eq!(raw.frames[2].function.as_deref(), Some("n"));
    assert_eq!(raw.frames[2].colno, Some(55));
    assert!(event.errors.is_empty(), "{:?}", event.errors);
}

#[test]
fn a_module_named_after_the_bundle_becomes_the_original_files() {
    let mut event = event();
    for frame in &mut event.exception[0].stacktrace.as_mut().unwrap().frames {
        frame.module = Some("app.min".into());
    }
    let file = SourceMapFile::parse(MAP, Some(MINIFIED), "~/app.min.js.map").unwrap();
    apply(
        &mut event,
        &HashMap::from([(URL.to_string(), Some(Arc::new(file)))]),
    );
    let frames = &event.exception[0].stacktrace.as_ref().unwrap().frames;
    assert_eq!(frames[2].module.as_deref(), Some("src/app"));
}

#[test]
fn a_missing_map_is_noted_and_nothing_changes() {
    let mut event = event();
    let before = event.exception.clone();
    apply(&mut event, &HashMap::from([(URL.to_string(), None)]));
    assert_eq!(event.exception, before);
    assert_eq!(event.errors.len(), 1);
    assert_eq!(event.errors[0].kind, "js_no_source");
    assert_eq!(
        event.errors[0].details["reason"],
        "no source map at the time"
    );
    assert_eq!(event.errors[0].value, Some(json!(URL)));
}

#[test]
fn what_is_not_a_source_map_is_refused() {
    for bad in [
        &b"not json"[..],
        b"{}",
        b"{\"version\":3,\"sources\":[],\"mappings\":\"\"}",
    ] {
        assert!(SourceMapFile::parse(bad, None, "x").is_err(), "{bad:?}");
    }
    let half = &MAP[..MAP.len() / 2];
    assert!(SourceMapFile::parse(half, None, "x").is_err());
}

#[test]
fn sources_resolve_and_clean() {
    assert_eq!(
        resolve("https://x.io/dist/app.min.js", "../src/a.js"),
        "https://x.io/src/a.js"
    );
    assert_eq!(resolve("/srv/dist/a.js", "../src/a.js"), "../src/a.js");
    assert_eq!(
        resolve("https://x.io/a.js", "webpack://app/src/a.js"),
        "webpack://app/src/a.js"
    );
    assert_eq!(clean_source("webpack://app/./src/a.js"), "src/a.js");
    assert_eq!(clean_source("../../src/a.js"), "src/a.js");
    assert_eq!(clean_source("/abs/a.js"), "abs/a.js");
}
