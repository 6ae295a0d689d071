//! Seed data: a project filled with synthetic but realistic events, written through the store
//! exactly as ingestion writes them.
//!
//! Every event is an SDK-shaped JSON payload (exception with an in-app stack, or a log message;
//! tags, user, request, contexts, breadcrumbs) that goes through the server's own steps:
//! `normalize_event`, then the processor's `prepare` (fingerprint, title, culprit, search text,
//! compressed payload), then `EventStore::write_events` in large batches. So the issues, the
//! hourly and tag rollups and the full-text index are what ingestion would have built; only
//! HTTP and the group-commit timing are skipped.
//!
//! The shape, all derived from one seed (same seed, same data):
//! - `issues` issues, each with a client fingerprint (so the count is exact), a level, a kind
//!   (80 % exceptions, 20 % log messages), an exception type, an in-app function and a message
//!   template drawn from a small technical vocabulary;
//! - `events` events spread evenly over `days` days up to now, in time order; issues are born
//!   evenly over the period (each birth is an event), and every other event goes half to an old
//!   issue (skewed to the oldest, the chronic ones) and half to a recent one;
//! - known word frequencies for search benchmarks: [`WORD_FREQUENT`] is in the messages of every
//!   20th issue (about 5 % of events), [`WORD_RARE`] in every 1000th, and both words of
//!   [`WORDS_PAIR`] in every 50th.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use mesher_protocol::scrub::ScrubConfig;
use mesher_protocol::{EventId, NormalizeContext, Timestamp, normalize_event};
use mesher_server::pipeline::Incoming;
use mesher_server::pipeline::processor::prepare;
use mesher_store::{NewEvent, Store, WriteOutcome};
use serde_json::{Value, json};
use time::OffsetDateTime;

/// A word in the messages of every 20th issue.
pub const WORD_FREQUENT: &str = "timeout";
/// A word in the messages of every 1000th issue.
pub const WORD_RARE: &str = "refund";
/// Two words that are both in the messages of every 50th issue.
pub const WORDS_PAIR: &str = "connection refused";

const VOCABULARY: &[&str] = &[
    "cache",
    "session",
    "invoice",
    "payment",
    "cart",
    "checkout",
    "catalog",
    "inventory",
    "shipping",
    "address",
    "customer",
    "account",
    "token",
    "password",
    "email",
    "template",
    "render",
    "query",
    "index",
    "worker",
    "queue",
    "upload",
    "image",
    "thumbnail",
    "report",
    "export",
    "import",
    "schedule",
    "webhook",
    "signature",
    "currency",
    "discount",
    "coupon",
    "warehouse",
    "carrier",
    "label",
    "tracking",
    "locale",
    "translation",
    "search",
    "filter",
    "pagination",
    "cursor",
    "snapshot",
    "migration",
    "replica",
    "shard",
    "lock",
    "deadline",
    "quota",
    "limit",
    "bucket",
    "object",
    "stream",
    "socket",
    "handshake",
    "certificate",
    "resolver",
    "gateway",
    "upstream",
    "proxy",
    "header",
    "cookie",
    "profile",
    "avatar",
    "notification",
    "digest",
    "subscription",
    "renewal",
    "trial",
    "plan",
    "tax",
    "vat",
    "receipt",
    "ledger",
    "balance",
    "transfer",
    "settlement",
    "batch",
    "job",
    "retry",
];
const VERBS: &[&str] = &[
    "failed",
    "missing",
    "expired",
    "invalid",
    "rejected",
    "exceeded",
    "corrupted",
    "stale",
    "duplicated",
    "unavailable",
    "truncated",
    "mismatched",
    "unexpected",
    "unreadable",
];
const EXCEPTIONS: &[&str] = &[
    "KeyError",
    "ValueError",
    "TypeError",
    "AttributeError",
    "RuntimeError",
    "IndexError",
    "ZeroDivisionError",
    "PermissionError",
    "FileNotFoundError",
    "ConnectionError",
    "TimeoutError",
    "IntegrityError",
    "OperationalError",
    "ValidationError",
    "DoesNotExist",
    "JSONDecodeError",
    "UnicodeDecodeError",
    "AssertionError",
    "NotImplementedError",
    "HTTPError",
];
const MODULES: &[&str] = &[
    "shop.views.cart",
    "shop.views.checkout",
    "shop.api.orders",
    "shop.api.products",
    "shop.billing.invoices",
    "shop.billing.payments",
    "shop.accounts.auth",
    "shop.accounts.profile",
    "shop.search.index",
    "shop.tasks.emails",
    "shop.tasks.reports",
    "shop.shipping.rates",
];
const BROWSERS: &[&str] = &[
    "Chrome 120",
    "Chrome 119",
    "Firefox 121",
    "Safari 17.2",
    "Edge 120",
    "Chrome Mobile 120",
    "Mobile Safari 17.1",
    "Samsung Internet 23",
];
const OSES: &[&str] = &[
    "Windows 10",
    "Mac OS X 14.2",
    "Linux",
    "iOS 17.1",
    "Android 14",
];
const REGIONS: &[&str] = &[
    "eu-west-1",
    "eu-central-1",
    "us-east-1",
    "us-west-2",
    "ap-south-1",
];
const TIERS: &[&str] = &["free", "basic", "pro", "enterprise"];

/// What to seed.
#[derive(Debug, Clone)]
pub struct SeedConfig {
    /// Events to write.
    pub events: u64,
    /// Issues they form (at most `events`).
    pub issues: u64,
    /// The period the events are spread over…
    pub days: u32,
    /// …which ends this many days ago (0: now). A soak seeds events its retention has passed.
    pub end_days_ago: u32,
    /// Events per write (one transaction each).
    pub batch: usize,
    /// Threads building events.
    pub threads: usize,
    /// The seed of everything random.
    pub seed: u64,
}

/// What a seed run did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SeedOutcome {
    /// Events written (stored).
    pub stored: u64,
    /// Issues in the project afterwards.
    pub issues: i64,
    /// Wall time.
    pub secs: f64,
}

/// One issue's fixed traits.
struct IssueShape {
    exception: Option<&'static str>,
    module: &'static str,
    function: String,
    level: &'static str,
    words: Vec<&'static str>,
    transaction: String,
}

fn pick<'a>(rng: &mut fastrand::Rng, list: &[&'a str]) -> &'a str {
    list[rng.usize(..list.len())]
}

impl IssueShape {
    fn new(seed: u64, k: u64) -> IssueShape {
        let mut rng = fastrand::Rng::with_seed(seed ^ k.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let exception = (rng.u8(..100) < 80).then(|| pick(&mut rng, EXCEPTIONS));
        let level = match rng.u8(..100) {
            0..=2 => "fatal",
            3..=72 => "error",
            73..=87 => "warning",
            88..=97 => "info",
            _ => "debug",
        };
        let mut words = vec![
            pick(&mut rng, VOCABULARY),
            pick(&mut rng, VERBS),
            pick(&mut rng, VOCABULARY),
        ];
        if rng.bool() {
            words.push(pick(&mut rng, VOCABULARY));
        }
        if k.is_multiple_of(20) {
            words.push(WORD_FREQUENT);
        }
        if k % 1000 == 7 {
            words.push(WORD_RARE);
        }
        if k % 50 == 3 {
            words.extend(WORDS_PAIR.split(' '));
        }
        rng.shuffle(&mut words);
        let module = pick(&mut rng, MODULES);
        let function = format!(
            "{}_{}_{k}",
            pick(
                &mut rng,
                &["handle", "load", "save", "build", "check", "send", "apply"]
            ),
            pick(&mut rng, VOCABULARY)
        );
        let transaction = format!(
            "/{}/{}/{{id}}",
            module.rsplit('.').next().unwrap_or("app"),
            pick(&mut rng, VOCABULARY)
        );
        IssueShape {
            exception,
            module,
            function,
            level,
            words,
            transaction,
        }
    }
}

/// Builds events in order: event `i` of `n` happens at `start + span · i / n`.
struct Generator {
    cfg: SeedConfig,
    start_ms: i64,
    span_ms: i64,
}

impl Generator {
    /// Which issue event `i` belongs to.
    fn issue_of(&self, i: u64, rng: &mut fastrand::Rng) -> u64 {
        let n = self.cfg.events;
        let issues = self.cfg.issues;
        // Issues born so far (linear over the period); a birth is its issue's first event.
        let born = |i: u64| ((i as u128 * issues as u128) / n as u128) as u64;
        let now_born = born(i + 1).max(1);
        if born(i + 1) > born(i) {
            return born(i + 1) - 1;
        }
        if rng.bool() {
            // Chronic issues: skewed towards the oldest.
            let u = rng.f64();
            ((now_born as f64) * u * u * u * u) as u64
        } else {
            // Recent ones: skewed towards the newest 2000.
            let window = now_born.min(2000);
            let u = rng.f64();
            now_born - 1 - ((window as f64) * u * u) as u64
        }
        .min(now_born - 1)
    }

    fn payload(&self, i: u64, issue: u64, shape: &IssueShape, rng: &mut fastrand::Rng) -> Value {
        let ts_ms =
            self.start_ms + ((i as i128 * self.span_ms as i128) / self.cfg.events as i128) as i64;
        let day = (ts_ms - self.start_ms) / 86_400_000;
        let user = rng.u32(..20_000);
        let order = rng.u32(100_000..1_000_000);
        let message = format!("{} for order {order} (user_{user})", shape.words.join(" "));
        let environment = match rng.u8(..100) {
            0..=79 => "production",
            80..=94 => "staging",
            _ => "development",
        };
        let frames: Vec<Value> = (0..rng.usize(4..9))
            .map(|f| {
                json!({
                    "filename": format!("site-packages/framework/core_{f}.py"),
                    "abs_path": format!("/usr/lib/python3.12/site-packages/framework/core_{f}.py"),
                    "function": format!("dispatch_{f}"),
                    "module": format!("framework.core_{f}"),
                    "lineno": 100 + f * 7,
                    "in_app": false,
                    "context_line": "        return self.handler(request, *args, **kwargs)",
                    "pre_context": ["    def __call__(self, request):", "        self.check(request)"],
                    "post_context": ["", "    def check(self, request):"],
                })
            })
            .chain([json!({
                "filename": format!("{}.py", shape.module.replace('.', "/")),
                "abs_path": format!("/srv/app/{}.py", shape.module.replace('.', "/")),
                "function": shape.function,
                "module": shape.module,
                "lineno": 40 + issue % 300,
                "in_app": true,
                "context_line": format!("    result = {}(order_id)", shape.words[0]),
                "pre_context": ["def process(order_id):", "    order = Order.objects.get(pk=order_id)"],
                "post_context": ["    return result", ""],
                "vars": {"order_id": order.to_string(), "user": format!("'user_{user}'")},
            })])
            .collect();
        let mut event = json!({
            "event_id": format!("{:032x}", rng.u128(..)),
            "timestamp": ts_ms as f64 / 1000.0,
            "platform": "python",
            "level": shape.level,
            "logger": shape.module,
            "server_name": format!("web-{}", rng.u8(1..7)),
            "release": format!("shop@1.{}.0", day / 2),
            "environment": environment,
            "transaction": shape.transaction,
            "fingerprint": ["seed", format!("issue-{issue}")],
            "tags": {
                "browser": pick(rng, BROWSERS),
                "os": pick(rng, OSES),
                "region": pick(rng, REGIONS),
                "customer_tier": pick(rng, TIERS),
            },
            "user": {"id": format!("user_{user}"), "email": format!("user_{user}@example.com")},
            "request": {
                "url": format!("https://shop.example.com{}", shape.transaction.replace("{id}", &order.to_string())),
                "method": if rng.bool() { "GET" } else { "POST" },
                "headers": {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64)", "Accept": "text/html"},
            },
            "contexts": {
                "runtime": {"name": "CPython", "version": "3.12.1"},
                "os": {"name": "Linux", "version": "6.1"},
                "trace": {"trace_id": format!("{:032x}", rng.u128(..)), "span_id": format!("{:016x}", rng.u64(..))},
            },
            "breadcrumbs": {"values": (0..rng.usize(1..5)).map(|b| json!({
                "timestamp": ts_ms as f64 / 1000.0 - 1.0 - b as f64,
                "category": "query",
                "message": format!("SELECT * FROM shop_{} WHERE id = %s", pick(rng, VOCABULARY)),
                "level": "info",
            })).collect::<Vec<_>>()},
            "sdk": {"name": "sentry.python", "version": "2.19.0"},
        });
        match shape.exception {
            Some(ty) => {
                event["exception"] = json!({"values": [{
                    "type": ty,
                    "value": message,
                    "module": shape.module,
                    "mechanism": {"type": "generic", "handled": false},
                    "stacktrace": {"frames": frames},
                }]});
            }
            None => {
                event["logentry"] = json!({
                    "message": format!("{} for order %s (%s)", shape.words.join(" ")),
                    "params": [order.to_string(), format!("user_{user}")],
                    "formatted": message,
                });
            }
        }
        event
    }

    fn build(
        &self,
        project_id: i64,
        from: u64,
        to: u64,
        shapes: &[IssueShape],
    ) -> anyhow::Result<Vec<NewEvent>> {
        let mut rng = fastrand::Rng::with_seed(self.cfg.seed.wrapping_add(from));
        let mut out = Vec::with_capacity((to - from) as usize);
        let scrub = Arc::new(ScrubConfig::default());
        for i in from..to {
            let issue = self.issue_of(i, &mut rng);
            let payload = self.payload(i, issue, &shapes[issue as usize], &mut rng);
            let bytes = serde_json::to_vec(&payload)?;
            let ts = payload["timestamp"].as_f64().unwrap_or_default();
            let received = OffsetDateTime::from_unix_timestamp_nanos(((ts + 0.05) * 1e9) as i128)
                .context("timestamp out of range")?;
            let mut ctx = NormalizeContext::new(
                Timestamp::from_datetime(received),
                EventId::from_bytes(rng.u128(..).to_le_bytes()),
            );
            ctx.max_secs_in_past = i64::from(self.cfg.days + 1) * 86_400;
            let event = normalize_event(&bytes, &ctx)
                .map_err(|e| anyhow::anyhow!("a generated event does not normalize: {e}"))?;
            out.push(
                prepare(Incoming {
                    project_id,
                    event,
                    // Seeded events are stored as the server would store them.
                    scrub: scrub.clone(),
                })
                .map_err(|e| anyhow::anyhow!("cannot prepare a generated event: {e}"))?,
            );
        }
        Ok(out)
    }
}

/// Fills `project_id` of `store`: generates on `threads` threads while writing in order on the
/// calling runtime.
pub async fn seed(
    store: Arc<dyn Store>,
    project_id: i64,
    cfg: SeedConfig,
    progress: bool,
) -> anyhow::Result<SeedOutcome> {
    if cfg.issues == 0 || cfg.events < cfg.issues {
        bail!("need at least one issue and at least as many events as issues");
    }
    let started = Instant::now();
    let now = OffsetDateTime::now_utc();
    let span_ms = i64::from(cfg.days) * 86_400_000;
    let end_ms =
        (now.unix_timestamp_nanos() / 1_000_000) as i64 - i64::from(cfg.end_days_ago) * 86_400_000;
    let generator = Arc::new(Generator {
        start_ms: end_ms - span_ms,
        span_ms: span_ms - 60_000,
        cfg: cfg.clone(),
    });
    let shapes: Arc<Vec<IssueShape>> = Arc::new(
        (0..cfg.issues)
            .map(|k| IssueShape::new(cfg.seed, k))
            .collect(),
    );
    let batches = cfg.events.div_ceil(cfg.batch as u64);
    let threads = cfg.threads.max(1);
    // Batch j is built by thread j mod threads and written in order; two batches in hand per
    // thread keep the writer fed without holding the whole data set in memory.
    let mut receivers = Vec::new();
    let mut handles = Vec::new();
    for t in 0..threads {
        let (tx, rx) = mpsc::sync_channel::<anyhow::Result<Vec<NewEvent>>>(2);
        receivers.push(rx);
        let generator = generator.clone();
        let shapes = shapes.clone();
        let batch = cfg.batch as u64;
        let events = cfg.events;
        handles.push(std::thread::spawn(move || {
            let mut j = t as u64;
            while j < batches {
                let from = j * batch;
                let to = (from + batch).min(events);
                if tx
                    .send(generator.build(project_id, from, to, &shapes))
                    .is_err()
                {
                    return;
                }
                j += threads as u64;
            }
        }));
    }
    let mut stored = 0u64;
    let mut last_report = Instant::now();
    for j in 0..batches {
        let rx = &receivers[(j % threads as u64) as usize];
        let next = tokio::task::block_in_place(|| rx.recv())
            .context("an event-building thread stopped")??;
        let outcomes = store
            .write_events(Arc::new(next))
            .await
            .context("writing a batch")?;
        stored += outcomes
            .iter()
            .filter(|o| matches!(o, WriteOutcome::Stored { .. }))
            .count() as u64;
        if progress && last_report.elapsed() >= Duration::from_secs(5) {
            last_report = Instant::now();
            eprintln!(
                "  {stored} events in {:.0} s ({:.0} events/s)",
                started.elapsed().as_secs_f64(),
                stored as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
    drop(receivers);
    for h in handles {
        let _ = h.join();
    }
    let (_, issues) = store.project_counts(project_id).await?;
    Ok(SeedOutcome {
        stored,
        issues,
        secs: started.elapsed().as_secs_f64(),
    })
}

/// Marks `percent` % of the project's issues resolved and one in twenty archived, directly in
/// SQL (a seed tool's shortcut: no activity entries), so that status filters select something.
pub async fn set_statuses(database_url: &str, project_id: i64, percent: u8) -> anyhow::Result<()> {
    let resolved = format!(
        "UPDATE issues SET status = 'resolved', substatus = NULL, resolved_at = last_seen \
         WHERE project_id = {project_id} AND id % 100 < {}",
        percent.min(100)
    );
    let archived = format!(
        "UPDATE issues SET status = 'archived', substatus = 'archived_until_escalating' \
         WHERE project_id = {project_id} AND status = 'unresolved' AND id % 20 = 19"
    );
    match mesher_store::DatabaseUrl::parse(database_url)? {
        mesher_store::DatabaseUrl::Sqlite(path) => {
            tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
                let conn = rusqlite::Connection::open(&path)?;
                conn.busy_timeout(Duration::from_secs(30))?;
                conn.execute_batch(&format!("BEGIN; {resolved}; {archived}; COMMIT;"))?;
                Ok(())
            })
            .await??;
        }
        mesher_store::DatabaseUrl::Postgres(url) => {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            client
                .batch_execute(&format!("BEGIN; {resolved}; {archived}; COMMIT;"))
                .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generator(events: u64, issues: u64) -> Generator {
        Generator {
            cfg: SeedConfig {
                events,
                issues,
                days: 30,
                end_days_ago: 0,
                batch: 100,
                threads: 1,
                seed: 7,
            },
            start_ms: 0,
            span_ms: 30 * 86_400_000,
        }
    }

    #[test]
    fn every_issue_is_born_once_and_choices_stay_in_range() {
        let g = generator(10_000, 500);
        let mut rng = fastrand::Rng::with_seed(1);
        let mut seen = vec![0u64; 500];
        for i in 0..10_000 {
            let k = g.issue_of(i, &mut rng);
            assert!(k < 500);
            seen[k as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n > 0), "every issue has events");
    }

    #[test]
    fn generated_events_normalize_and_prepare() {
        let g = generator(100, 10);
        let shapes: Vec<IssueShape> = (0..10).map(|k| IssueShape::new(7, k)).collect();
        let events = g.build(1, 0, 100, &shapes).unwrap();
        assert_eq!(events.len(), 100);
        let fingerprints: std::collections::HashSet<_> =
            events.iter().map(|e| e.fingerprint.clone()).collect();
        assert_eq!(fingerprints.len(), 10);
        assert!(events.iter().all(|e| !e.search_text.is_empty()));
    }
}
