//! What source maps cost the processor (issue 18), on the bundle of
//! `crates/mesher-protocol/tests/sourcemaps` (esbuild-minified, `sentry-cli`-injected):
//!
//! - `sourcemaps/apply`: per event, finding which files need a map and rewriting its three
//!   frames with the parsed map (what every JavaScript event pays once its map is cached);
//! - `sourcemaps/parse`: parsing the map and its minified file (paid once per map and node, on
//!   a cache miss). `MESHER_BENCH_SOURCEMAP=path/to/app.min.js.map` (with `app.min.js` beside
//!   it) also parses a map of one's own, for a real bundle's figure.
//!
//! `cargo bench -p mesher-bench --bench sourcemaps`.

use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use mesher_protocol::sourcemaps::{self, SourceMapFile};
use mesher_protocol::{EventId, NormalizeContext, Timestamp, normalize_event};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../mesher-protocol/tests/sourcemaps"
);
const URL: &str = "http://localhost:5000/dist/app.min.js";
const DEBUG_ID: &str = "3b394457-5d7b-57c0-b113-3a4c5ed2ef4e";

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn benches(c: &mut Criterion) {
    let dir = Path::new(FIXTURE);
    let (map, minified) = (
        read(&dir.join("app.min.js.map")),
        read(&dir.join("app.min.js")),
    );
    let frame = |function: &str, col: u64| {
        serde_json::json!({"filename": URL, "abs_path": URL, "function": function,
                           "lineno": 3, "colno": col, "in_app": true})
    };
    let payload = serde_json::json!({
        "platform": "javascript",
        "exception": {"values": [{"type": "TypeError", "value": "Cannot read properties of null",
            "stacktrace": {"frames": [frame("window.runCheckout", 126), frame("u", 92), frame("n", 55)]}}]},
        "debug_meta": {"images": [{"type": "sourcemap", "code_file": URL, "debug_id": DEBUG_ID}]},
    });
    let ctx = NormalizeContext::new(
        Timestamp::from_unix_seconds(1_714_564_800).expect("time"),
        EventId::from_bytes([7; 16]),
    );
    let event = normalize_event(payload.to_string().as_bytes(), &ctx).expect("the event");
    let file = SourceMapFile::parse(&map, Some(&minified), "~/app.min.js.map").expect("the map");
    let maps = HashMap::from([(URL.to_string(), Some(Arc::new(file)))]);

    let mut g = c.benchmark_group("sourcemaps");
    g.throughput(Throughput::Elements(1));
    g.bench_function("apply", |b| {
        b.iter_batched(
            || event.clone(),
            |mut event| {
                let needed = sourcemaps::needed(&event);
                black_box(&needed);
                sourcemaps::apply(&mut event, &maps);
                event
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("parse", |b| {
        b.iter(|| SourceMapFile::parse(black_box(&map), Some(&minified), "~/a.js.map"))
    });
    if let Ok(path) = std::env::var("MESHER_BENCH_SOURCEMAP") {
        let path = Path::new(&path);
        let own = read(path);
        let own_minified = std::fs::read(path.with_extension("")).ok();
        g.bench_function("parse_given", |b| {
            b.iter(|| SourceMapFile::parse(black_box(&own), own_minified.as_deref(), "~/x.map"))
        });
    }
    g.finish();
}

criterion_group!(sourcemaps_benches, benches);
criterion_main!(sourcemaps_benches);
