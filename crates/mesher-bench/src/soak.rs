//! `mesher-bench soak`: a long open-loop load on running nodes with live subscribers and an
//! alert webhook receiver, sampled every few seconds and judged minute by minute (issue 17,
//! acceptance 5). `scripts/soak` sets up the servers, the project, the rules and the expired
//! events, then runs this.
//!
//! The load is the corpus at a fixed rate, split evenly over the nodes (one generator per node,
//! as a load balancer would spread it), each answer's latency counted from when its event was
//! due. Every [`SAMPLE`] each node's RSS and queue depth are read; at each minute's end the
//! answers of the minute, the database and the counters make a [`Row`]. A line is printed every
//! five minutes (every minute in runs shorter than ten), and [`flatness::verdict`] decides.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use clap::Args;
use serde::Serialize;

use crate::corpus::{self, DEFAULT_CORPUS, IdSource};
use crate::flatness::{self, Expectations, Row, Verdict};
use crate::load::{self, Answer, LoadConfig, LoadOutcome, Observer, Target};
use crate::measure::Database;
use crate::node_probe::NodeProbe;
use crate::soak_streams::{Streams, StreamsOutcome};
use crate::stats::percentile;
use crate::webhook_sink::WebhookSink;

/// How often the nodes are sampled.
pub const SAMPLE: Duration = Duration::from_secs(5);
const SAMPLES_PER_MINUTE: u32 = 12;

/// `mesher-bench soak`'s arguments.
#[derive(Args)]
pub struct SoakArgs {
    /// A node's DSN of the soaked project; repeat it for each node of a cluster (the load and
    /// the subscribers are spread evenly over them).
    #[arg(long = "dsn", required = true)]
    pub dsns: Vec<String>,
    /// Each node's process id, in the order of `--dsn`.
    #[arg(long = "server-pid", required = true)]
    pub pids: Vec<u32>,
    /// Events per second, all nodes together (open loop).
    #[arg(long)]
    pub rate: f64,
    /// Minutes of load.
    #[arg(long, default_value_t = 30)]
    pub minutes: u32,
    /// The first minute that must be flat.
    #[arg(long, default_value_t = 10)]
    pub flat_from: u32,
    /// Connections, all nodes together: the most requests in flight at once.
    #[arg(short = 'c', long, default_value_t = 128)]
    pub connections: usize,
    /// Envelope corpus.
    #[arg(long, default_value = DEFAULT_CORPUS)]
    pub corpus: PathBuf,
    /// Leave out corpus envelopes larger than this many bytes.
    #[arg(long)]
    pub max_envelope_bytes: Option<usize>,
    /// Live stream subscribers of the project, open during the whole load.
    #[arg(long, default_value_t = 50)]
    pub subscribers: usize,
    /// API token (read scope) the subscribers open their streams with; repeat it to spread
    /// them over several users (`stream_max_per_user`).
    #[arg(long = "token")]
    pub tokens: Vec<String>,
    /// Receive the alert rules' webhooks on `127.0.0.1:PORT` (any path).
    #[arg(long)]
    pub webhook_port: Option<u16>,
    /// The server's data directory (SQLite): its size and expired events are reported.
    #[arg(long, conflicts_with = "pg_url")]
    pub data_dir: Option<PathBuf>,
    /// The servers' PostgreSQL URL: its size and expired events are reported.
    #[arg(long)]
    pub pg_url: Option<String>,
    /// The project's retention: events older than this many days count as expired.
    #[arg(long, default_value_t = 1)]
    pub retention_days: i64,
    /// Name of this soak in its report.
    #[arg(long, default_value = "soak")]
    pub label: String,
    /// Write the JSON report (every minute's row, the verdict) to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// A soak's JSON report.
#[derive(Debug, Serialize)]
pub struct SoakReport {
    /// Its name.
    pub label: String,
    /// `sqlite`, `postgres` or `none`.
    pub database: String,
    /// Nodes loaded.
    pub nodes: usize,
    /// Events per second sent, all nodes together.
    pub target_rate: f64,
    /// Connections, all nodes together.
    pub connections: usize,
    /// Minutes of load.
    pub minutes: u32,
    /// Requests sent.
    pub sent: u64,
    /// Answers by status (`error`: no answer).
    pub statuses: std::collections::BTreeMap<String, u64>,
    /// The first transport error, if any.
    pub first_error: Option<String>,
    /// One row per minute.
    pub rows: Vec<Row>,
    /// The live subscribers.
    pub subscribers: Option<StreamsOutcome>,
    /// Events older than the retention before the load started.
    pub expired_at_start: u64,
    /// The verdict.
    pub verdict: Verdict,
}

/// What the observer gathers between two minute marks.
#[derive(Debug, Default)]
struct Tally {
    latencies_us: Vec<u64>,
    ok: u64,
    rate_limited: u64,
    failed: u64,
}

/// Everything a row covers, accumulated over one minute or a printed block of them.
#[derive(Debug, Default)]
struct Window {
    tally: Tally,
    queue_max: Vec<i64>,
    stream_events: u64,
    lagged: u64,
    webhooks: u64,
    minutes: u32,
}

/// The figures read at a row's end.
struct End {
    rss_mib: Vec<f64>,
    database_bytes: u64,
    expired_events: u64,
}

impl Window {
    fn new(nodes: usize) -> Window {
        Window {
            queue_max: vec![0; nodes],
            ..Window::default()
        }
    }

    fn absorb(&mut self, minute: &Window) {
        self.tally
            .latencies_us
            .extend_from_slice(&minute.tally.latencies_us);
        self.tally.ok += minute.tally.ok;
        self.tally.rate_limited += minute.tally.rate_limited;
        self.tally.failed += minute.tally.failed;
        for (mine, theirs) in self.queue_max.iter_mut().zip(&minute.queue_max) {
            *mine = (*mine).max(*theirs);
        }
        self.stream_events += minute.stream_events;
        self.lagged += minute.lagged;
        self.webhooks += minute.webhooks;
        self.minutes += minute.minutes;
    }

    fn row(&mut self, minute: u32, end: &End) -> Row {
        self.tally.latencies_us.sort_unstable();
        let lat = &self.tally.latencies_us;
        let ms = |p: f64| percentile(lat, p).map_or(0.0, |us| us as f64 / 1000.0);
        Row {
            minute,
            span: self.minutes,
            answered_per_sec: self.tally.ok as f64 / (f64::from(self.minutes.max(1)) * 60.0),
            rate_limited: self.tally.rate_limited,
            failed: self.tally.failed,
            p50_ms: ms(50.0),
            p99_ms: ms(99.0),
            rss_mib: end.rss_mib.clone(),
            queue_max: self.queue_max.clone(),
            database_bytes: end.database_bytes,
            expired_events: end.expired_events,
            stream_events: self.stream_events,
            lagged: self.lagged,
            webhooks: self.webhooks,
        }
    }
}

/// Runs a soak as `args` say; prints its table and verdict, writes its report, and fails when
/// it was not flat.
pub async fn soak(args: SoakArgs) -> anyhow::Result<()> {
    ensure!(
        args.pids.len() == args.dsns.len(),
        "give one --server-pid per --dsn"
    );
    ensure!(args.minutes > 0, "--minutes must be at least 1");
    ensure!(
        args.rate.is_finite() && args.rate > 0.0,
        "--rate must be positive"
    );
    let mut templates = corpus::load(&args.corpus)?;
    if let Some(max) = args.max_envelope_bytes {
        templates.retain(|t| t.len() <= max);
        ensure!(
            !templates.is_empty(),
            "no corpus envelope is {max} bytes or smaller"
        );
    }
    let mut targets = Vec::new();
    for dsn in &args.dsns {
        targets.push(Target::from_dsn(dsn, None).await?);
    }
    let project_id = targets[0].project_id;
    ensure!(
        targets.iter().all(|t| t.project_id == project_id),
        "every --dsn must be of the same project"
    );
    let nodes: Vec<NodeProbe> = targets
        .iter()
        .zip(&args.pids)
        .map(|(t, &pid)| NodeProbe::new(t, pid))
        .collect();
    let database = match (&args.data_dir, &args.pg_url) {
        (Some(dir), _) => Some(Database::sqlite(dir)),
        (_, Some(url)) => Some(Database::Postgres(url.clone())),
        _ => None,
    };
    let expired_at_start = match &database {
        Some(db) => db.count_older_than(project_id, args.retention_days).await?,
        None => 0,
    };
    let sink = match args.webhook_port {
        Some(port) => Some(WebhookSink::start(port).await?),
        None => None,
    };
    let streams = match args.subscribers {
        0 => None,
        n => Some(Streams::open(&targets, &args.tokens, &templates, n).await?),
    };

    let templates = Arc::new(templates);
    let share = targets.len();
    let config = LoadConfig {
        connections: (args.connections / share).max(1),
        events: None,
        duration: Some(Duration::from_secs(u64::from(args.minutes) * 60)),
        rate: Some(args.rate / share as f64),
        gzip: false,
    };
    let tally = Arc::new(Mutex::new(Tally::default()));
    let observer: Observer = {
        let tally = tally.clone();
        Arc::new(move |a: Answer| {
            let mut t = tally.lock().unwrap_or_else(PoisonError::into_inner);
            match a.status {
                Some(s) if (200..300).contains(&s) => {
                    t.ok += 1;
                    t.latencies_us.push(a.latency.as_micros() as u64);
                }
                Some(429) => t.rate_limited += 1,
                _ => t.failed += 1,
            }
        })
    };
    let mut runs = Vec::new();
    for target in &targets {
        let ids = Arc::new(IdSource::new());
        runs.push(load::prepare(target.clone(), templates.clone(), ids, &config).await?);
    }
    let every = if args.minutes < 10 { 1 } else { 5 };
    eprintln!(
        "mesher-bench soak: {:.0} events/s over {} node(s), {} connections, {} minutes, \
         {} subscribers; a line every {every} minute(s)",
        args.rate,
        targets.len(),
        config.connections * share,
        args.minutes,
        args.subscribers
    );
    print!("{}", flatness::header(targets.len()));

    let start = tokio::time::Instant::now();
    let mut loads: Vec<_> = runs
        .into_iter()
        .map(|run| tokio::spawn(run.start_observed(observer.clone())))
        .collect();
    let mut rows = Vec::new();
    let mut minute = Window::new(nodes.len());
    let mut block = Window::new(nodes.len());
    let mut outcome = LoadOutcome::default();
    for tick in 1..=args.minutes * SAMPLES_PER_MINUTE {
        tokio::time::sleep_until(start + SAMPLE * tick).await;
        let last = tick == args.minutes * SAMPLES_PER_MINUTE;
        if last {
            // The last minute ends when its last answer is in.
            for load in loads.drain(..) {
                let part = load.await.context("a load task panicked")??;
                outcome.merge(part);
            }
        }
        let mut rss_mib = Vec::with_capacity(nodes.len());
        for (i, node) in nodes.iter().enumerate() {
            let s = node.sample().await?;
            minute.queue_max[i] = minute.queue_max[i].max(s.queue_events);
            rss_mib.push(s.rss_bytes as f64 / (1024.0 * 1024.0));
        }
        if tick % SAMPLES_PER_MINUTE != 0 {
            continue;
        }
        let m = tick / SAMPLES_PER_MINUTE;
        minute.tally = std::mem::take(&mut *tally.lock().unwrap_or_else(PoisonError::into_inner));
        minute.minutes = 1;
        if let Some(s) = &streams {
            (minute.stream_events, minute.lagged) = s.counts().take();
        }
        minute.webhooks = sink.as_ref().map_or(0, WebhookSink::take);
        let end = End {
            rss_mib,
            database_bytes: match &database {
                Some(db) => db.size_bytes().await?,
                None => 0,
            },
            expired_events: match &database {
                Some(db) => db.count_older_than(project_id, args.retention_days).await?,
                None => 0,
            },
        };
        rows.push(minute.row(m, &end));
        block.absorb(&minute);
        minute = Window::new(nodes.len());
        if m.is_multiple_of(every) || last {
            print!("{}", flatness::line(&block.row(m, &end)));
            block = Window::new(nodes.len());
        }
    }
    let subscribers = match streams {
        Some(s) => Some(s.finish().await?),
        None => None,
    };
    let verdict = flatness::verdict(
        &rows,
        &Expectations {
            flat_from: args.flat_from,
            target_rate: args.rate,
            subscribers_closed: subscribers.as_ref().map_or(0, |s| s.closed),
            expired_at_start,
        },
    );
    let mut statuses: std::collections::BTreeMap<String, u64> = outcome
        .statuses
        .iter()
        .map(|(s, n)| (s.to_string(), *n))
        .collect();
    if outcome.transport_errors > 0 {
        statuses.insert("error".into(), outcome.transport_errors);
    }
    let report = SoakReport {
        label: args.label,
        database: database
            .as_ref()
            .map_or("none", Database::backend)
            .to_string(),
        nodes: targets.len(),
        target_rate: args.rate,
        connections: config.connections * share,
        minutes: args.minutes,
        sent: outcome.sent,
        statuses,
        first_error: outcome.first_error.clone(),
        rows,
        subscribers,
        expired_at_start,
        verdict,
    };
    if let Some(path) = &args.out {
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    print!("{}", summary(&report));
    if !report.verdict.flat {
        bail!("not flat from minute {}", report.verdict.flat_from);
    }
    Ok(())
}

/// The lines after the table: answers, subscribers, webhooks, each check.
fn summary(r: &SoakReport) -> String {
    let mut out = format!(
        "sent {} requests: {}{}\n",
        r.sent,
        r.statuses
            .iter()
            .map(|(s, n)| format!("{n} × {s}"))
            .collect::<Vec<_>>()
            .join(", "),
        r.first_error
            .as_deref()
            .map(|e| format!(" (first error: {e})"))
            .unwrap_or_default()
    );
    if let Some(s) = &r.subscribers {
        let received: u64 = r.rows.iter().map(|row| row.stream_events).sum();
        let lagged: u64 = r.rows.iter().map(|row| row.lagged).sum();
        out += &format!(
            "subscribers: {} opened, {} ended early{}; {received} events received, {lagged} lost \
             (lagged)\n",
            s.opened,
            s.closed,
            s.first_close
                .as_deref()
                .map(|w| format!(" ({w})"))
                .unwrap_or_default()
        );
    }
    let hooks: u64 = r.rows.iter().map(|row| row.webhooks).sum();
    // The sweeper's progress is the `sweep` check's.
    out += &format!("alert webhooks received: {hooks}\n");
    for c in &r.verdict.checks {
        out += &format!(
            "  {} {:<8} {}\n",
            if c.ok { "ok  " } else { "FAIL" },
            c.name,
            c.detail
        );
    }
    out += &format!(
        "verdict: {} from minute {}\n",
        if r.verdict.flat { "flat" } else { "NOT flat" },
        r.verdict.flat_from
    );
    out
}
