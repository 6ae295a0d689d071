//! Events of realistic, varied sizes, for storage measurements: a Python error with its stack
//! trace, breadcrumbs and request, whose compressed payload is about a chosen size (the
//! variables' values carry the entropy that compression cannot take away).

use mesher_protocol::{EventId, Level};
use mesher_store::{NewEvent, compress_payload};
use time::OffsetDateTime;

/// A small deterministic generator (xorshift64*): the same mix on every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `lo..hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo) as u64) as usize
    }

    /// A number between `lo` and `hi`, evenly spread on a log scale.
    pub fn log_range(&mut self, lo: usize, hi: usize) -> usize {
        let f = (self.next() % 1_000_000) as f64 / 1_000_000.0;
        ((lo as f64).ln() + f * ((hi as f64).ln() - (lo as f64).ln())).exp() as usize
    }

    /// `n` characters of identifiers, hex and words, as variables' values are.
    pub fn text(&mut self, n: usize) -> String {
        const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-/.";
        (0..n)
            .map(|_| CHARS[(self.next() % CHARS.len() as u64) as usize] as char)
            .collect()
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.range(0, from.len())]
    }
}

const MODULES: [&str; 6] = [
    "app.views.checkout",
    "app.models.order",
    "django.core.handlers.base",
    "app.services.payment",
    "requests.adapters",
    "app.tasks.email",
];
const ERRORS: [&str; 5] = [
    "ValueError",
    "KeyError",
    "TypeError",
    "ConnectionError",
    "IntegrityError",
];
const MESSAGES: [&str; 5] = [
    "invalid literal for int() with base 10:",
    "duplicate key value violates unique constraint",
    "'NoneType' object has no attribute",
    "connection refused by host",
    "missing required field",
];
const BROWSERS: [&str; 4] = ["Firefox", "Chrome", "Safari", "Edge"];

/// An event of `project` at `at` whose compressed payload is about `target` bytes.
pub fn event(rng: &mut Rng, project: i64, at: OffsetDateTime, target: usize) -> NewEvent {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&rng.next().to_be_bytes());
    id[8..].copy_from_slice(&rng.next().to_be_bytes());
    let event_id = EventId::from_bytes(id);
    let error = rng.pick(&ERRORS);
    // Messages are a few templates with a value in them, as real errors are.
    let (template, len) = (rng.pick(&MESSAGES), rng.range(4, 16));
    let message = format!("{template} {}", rng.text(len));
    // What compression leaves of the frames' fixed parts is small: the variables' values make
    // up the size, spread over the frames.
    let frames_n = rng.range(5, 40);
    let per_frame = target.saturating_sub(250) * 5 / 4 / frames_n;
    let frames: Vec<serde_json::Value> = (0..frames_n)
        .map(|i| {
            let module = rng.pick(&MODULES);
            serde_json::json!({
                "filename": format!("{}.py", module.replace('.', "/")),
                "module": module,
                "function": format!("handle_{}", rng.range(0, 50)),
                "lineno": rng.range(1, 2_000),
                "in_app": module.starts_with("app"),
                "context_line": "    result = self.process(request, *args, **kwargs)",
                "vars": {"request": "<WSGIRequest: POST '/checkout/'>", "i": i,
                         "payload": rng.text(per_frame)},
            })
        })
        .collect();
    let crumbs: Vec<serde_json::Value> = (0..rng.range(0, 20))
        .map(|i| {
            serde_json::json!({"timestamp": 1_700_000_000 + i, "category": "query",
                "message": format!("SELECT * FROM orders WHERE id = {}", rng.range(0, 1 << 20))})
        })
        .collect();
    let browser = rng.pick(&BROWSERS);
    let json = serde_json::json!({
        "event_id": event_id.to_string(),
        "platform": "python",
        "level": "error",
        "exception": {"values": [{"type": error, "value": message,
                                  "stacktrace": {"frames": frames}}]},
        "breadcrumbs": {"values": crumbs},
        "request": {"url": "https://shop.example.com/checkout/", "method": "POST",
                    "headers": {"User-Agent": format!("Mozilla/5.0 {browser}")}},
        "tags": {"browser": browser},
        "user": {"id": rng.range(0, 100_000).to_string()},
    });
    let bytes = serde_json::to_vec(&json).expect("JSON serializes");
    let culprit = format!("{} in handle_{}", rng.pick(&MODULES), rng.range(0, 50));
    let mut tags = vec![
        ("browser".to_string(), browser.to_string()),
        ("level".to_string(), "error".to_string()),
        ("environment".to_string(), "production".to_string()),
        (
            "release".to_string(),
            format!("shop@1.{}.0", rng.range(0, 30)),
        ),
    ];
    for i in 0..rng.range(0, 6) {
        tags.push((
            format!("custom_{i}"),
            format!("value-{}", rng.range(0, 200)),
        ));
    }
    NewEvent {
        project_id: project,
        event_id,
        fingerprint: format!("{error}-{}", rng.range(0, 40)),
        timestamp: at,
        received_at: at,
        level: Level::Error,
        title: format!("{error}: {message}"),
        culprit: Some(culprit.clone()),
        environment: Some("production".into()),
        release: tags.get(3).map(|t| t.1.clone()),
        search_text: format!("{error} {message} {culprit}"),
        tags,
        user_key: Some(format!("id:{}", rng.range(0, 100_000))),
        grouping: r#"{"kind":"exception"}"#.into(),
        payload_size: bytes.len() as u32,
        payload: compress_payload(&bytes),
    }
}
