//! Per-event cost of each step of ingestion, on the corpus of real Python SDK envelopes.
//!
//! Every step is measured twice: on the typical envelope (the corpus median by size, about
//! 5 KB) and on the whole corpus per iteration (200 events including the 100–400 KB ones),
//! whose throughput line gives the mean per event of the real mix.
//!
//! Steps, in the server's order: decompression of the request body
//! (`mesher_protocol::compression::decode`, gzip at sentry-python's level 9 and brotli at its
//! quality 4), envelope framing (`parse_envelope`), normalization (`normalize_event`),
//! grouping (`grouping::fingerprint`), scrubbing with the default settings
//! (`scrub::scrub_event`, issue 11), and the stored form (`processor::prepare`: fingerprint,
//! scrubbing, summaries, JSON serialization and zstd compression), then the store's pure plan
//! of a batch write (`plan`, issue 13: 1,000 events per iteration).
//!
//! `cargo bench -p mesher-bench` runs them; `-- --quick` (or `--test`) for a fast pass.

use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use mesher_bench::corpus::{self, DEFAULT_CORPUS, IdSource, Stamp};
use mesher_bench::load::{SDK_GZIP_LEVEL, gzip_level};
use mesher_protocol::compression::{Encoding, Unlimited, decode};
use mesher_protocol::envelope::ItemType;
use mesher_protocol::grouping;
use mesher_protocol::scrub::{self, ScrubConfig};
use mesher_protocol::{
    Event, EventId, NormalizeContext, Timestamp, normalize_event, parse_envelope,
};
use mesher_server::pipeline::Incoming;
use mesher_server::pipeline::processor::prepare;

/// Limit handed to the decoder: far above any corpus envelope, so it never cuts.
const DECODE_LIMIT: usize = 64 << 20;

/// sentry-python's brotli quality (`brotli.compress(body, quality=4)`), with the library's
/// default window.
const SDK_BROTLI_QUALITY: u32 = 4;
const BROTLI_LGWIN: u32 = 22;

/// The corpus, rendered once with fresh ids and the current time (so normalization takes its
/// usual path rather than clamping stale timestamps), and what each step needs as input.
struct Inputs {
    envelopes: Vec<Vec<u8>>,
    typical: usize,
}

impl Inputs {
    fn load() -> Inputs {
        let templates = corpus::load(Path::new(DEFAULT_CORPUS)).expect("the shipped corpus loads");
        let ids = IdSource::new();
        let now = Stamp::now();
        let envelopes: Vec<Vec<u8>> = templates
            .iter()
            .map(|t| {
                let mut out = Vec::new();
                t.render_into(&mut out, &ids.next_id(), &now);
                out
            })
            .collect();
        let mut by_size: Vec<usize> = (0..envelopes.len()).collect();
        by_size.sort_by_key(|&i| envelopes[i].len());
        let typical = by_size[by_size.len() / 2];
        Inputs { envelopes, typical }
    }

    fn payloads(&self) -> Vec<&[u8]> {
        self.envelopes.iter().map(|e| event_payload(e)).collect()
    }
}

fn event_payload(envelope: &[u8]) -> &[u8] {
    let parsed = parse_envelope(envelope).expect("corpus envelopes parse");
    parsed
        .items()
        .iter()
        .find(|i| i.ty == ItemType::Event)
        .expect("corpus envelopes carry an event")
        .payload
}

fn context() -> NormalizeContext {
    let now = Timestamp::from_datetime(time::OffsetDateTime::now_utc());
    NormalizeContext::new(now, EventId::from_bytes([7; 16]))
}

fn normalize(payload: &[u8], ctx: &NormalizeContext) -> Event {
    normalize_event(payload, ctx).expect("corpus events normalize")
}

fn brotli(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, SDK_BROTLI_QUALITY, BROTLI_LGWIN);
        w.write_all(data).expect("compressing into memory");
    }
    out
}

fn benches(c: &mut Criterion) {
    let inputs = Inputs::load();
    let n = inputs.envelopes.len() as u64;
    let typical = &inputs.envelopes[inputs.typical];
    let payloads = inputs.payloads();
    let ctx = context();
    let events: Vec<Event> = payloads.iter().map(|p| normalize(p, &ctx)).collect();
    let typical_event = &events[inputs.typical];

    let mut g = c.benchmark_group("decompress");
    for (name, encoding, compress) in [
        (
            "gzip",
            Encoding::Gzip,
            (|d: &[u8]| gzip_level(d, SDK_GZIP_LEVEL).expect("compressing into memory"))
                as fn(&[u8]) -> Vec<u8>,
        ),
        ("brotli", Encoding::Brotli, brotli as fn(&[u8]) -> Vec<u8>),
    ] {
        let one = Bytes::from(compress(typical));
        g.throughput(Throughput::Elements(1));
        g.bench_function(format!("{name}/typical"), |b| {
            b.iter(|| {
                decode(
                    encoding,
                    black_box(one.clone()),
                    DECODE_LIMIT,
                    "the envelope",
                    &mut Unlimited,
                )
            })
        });
        let all: Vec<Bytes> = inputs
            .envelopes
            .iter()
            .map(|e| Bytes::from(compress(e)))
            .collect();
        g.throughput(Throughput::Elements(n));
        g.bench_function(format!("{name}/corpus"), |b| {
            b.iter(|| {
                for body in &all {
                    black_box(
                        decode(
                            encoding,
                            body.clone(),
                            DECODE_LIMIT,
                            "the envelope",
                            &mut Unlimited,
                        )
                        .ok(),
                    );
                }
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("parse_envelope");
    g.throughput(Throughput::Elements(1));
    g.bench_function("typical", |b| {
        b.iter(|| parse_envelope(black_box(typical)).map(|e| e.len()))
    });
    g.throughput(Throughput::Elements(n));
    g.bench_function("corpus", |b| {
        b.iter(|| {
            for e in &inputs.envelopes {
                black_box(parse_envelope(e).map(|e| e.len()).ok());
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("normalize_event");
    g.throughput(Throughput::Elements(1));
    let typical_payload = payloads[inputs.typical];
    g.bench_function("typical", |b| {
        b.iter(|| normalize_event(black_box(typical_payload), &ctx))
    });
    g.throughput(Throughput::Elements(n));
    g.bench_function("corpus", |b| {
        b.iter(|| {
            for p in &payloads {
                black_box(normalize_event(p, &ctx).ok());
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("fingerprint");
    g.throughput(Throughput::Elements(1));
    g.bench_function("typical", |b| {
        b.iter(|| grouping::fingerprint(black_box(typical_event)))
    });
    g.throughput(Throughput::Elements(n));
    g.bench_function("corpus", |b| {
        b.iter(|| {
            for e in &events {
                black_box(grouping::fingerprint(e));
            }
        })
    });
    g.finish();

    // Scrubbing rewrites its event: clones are made outside the timed part.
    let scrub = Arc::new(ScrubConfig::default());
    let mut g = c.benchmark_group("scrub");
    g.throughput(Throughput::Elements(1));
    g.bench_function("typical", |b| {
        b.iter_batched(
            || typical_event.clone(),
            // The event is handed back so that freeing it is not timed.
            |mut event| {
                black_box(scrub::scrub_event(&mut event, &scrub));
                event
            },
            BatchSize::SmallInput,
        )
    });
    g.throughput(Throughput::Elements(n));
    g.bench_function("corpus", |b| {
        b.iter_batched(
            || events.clone(),
            |mut events| {
                for event in &mut events {
                    black_box(scrub::scrub_event(event, &scrub));
                }
                events
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();

    // `prepare` consumes its event: clones are made outside the timed part.
    let mut g = c.benchmark_group("prepare");
    g.throughput(Throughput::Elements(1));
    g.bench_function("typical", |b| {
        b.iter_batched(
            || typical_event.clone(),
            |event| {
                prepare(Incoming {
                    project_id: 1,
                    event,
                    scrub: scrub.clone(),
                })
            },
            BatchSize::SmallInput,
        )
    });
    g.throughput(Throughput::Elements(n));
    g.bench_function("corpus", |b| {
        b.iter_batched(
            || events.clone(),
            |events| {
                for event in events {
                    black_box(
                        prepare(Incoming {
                            project_id: 1,
                            event,
                            scrub: scrub.clone(),
                        })
                        .ok(),
                    );
                }
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();

    // The batch-write planner (issue 13): a batch of 1,000 typical events, as the writer
    // hands them to the store, each with an id of its own. "Typical" leaves out envelopes
    // above 30 KB, as the load benchmark's typical runs do.
    let small: Vec<&Event> = (0..events.len())
        .filter(|&i| inputs.envelopes[i].len() <= TYPICAL_MAX_BYTES)
        .map(|i| &events[i])
        .collect();
    let mut typical_batch = Vec::with_capacity(PLAN_BATCH);
    for i in 0..PLAN_BATCH {
        let mut e = prepare(Incoming {
            project_id: 1,
            event: small[i % small.len()].clone(),
            scrub: scrub.clone(),
        })
        .expect("corpus events prepare");
        let mut id = *e.event_id.as_bytes();
        id[..8].copy_from_slice(&(i as u64).to_le_bytes());
        e.event_id = mesher_protocol::EventId::from_bytes(id);
        typical_batch.push(e);
    }
    let mut g = c.benchmark_group("plan");
    g.throughput(Throughput::Elements(PLAN_BATCH as u64));
    g.bench_function("batch", |b| {
        b.iter(|| mesher_store::plan_new_batch(black_box(&typical_batch)))
    });
    g.finish();
}

/// Events in the planner's batch: about what the writer's group commit takes at load.
const PLAN_BATCH: usize = 1_000;

/// The largest envelope of a typical run.
const TYPICAL_MAX_BYTES: usize = 30 * 1024;

criterion_group!(pipeline, benches);
criterion_main!(pipeline);
