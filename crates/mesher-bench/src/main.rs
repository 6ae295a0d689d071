//! `mesher-bench`: replays real SDK envelopes against a Mesher DSN and reports throughput,
//! latency, memory and storage figures. `scripts/bench` runs it against fresh servers.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use mesher_bench::corpus::{self, DEFAULT_CORPUS, IdSource};
use mesher_bench::load::{self, LoadConfig, LoadOutcome, Target};
use mesher_bench::measure::{self, Database};
use mesher_bench::queries;
use mesher_bench::report::{self, Report};
use mesher_bench::seed::{self, SeedConfig};
use mesher_bench::soak;
use mesher_bench::stats::LatencySummary;
use mesher_bench::subscribers::Live;

/// Load generator and figures for Mesher.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay the corpus against a DSN and report.
    Run(Box<RunArgs>),
    /// Print one comparison table from reports written by `run --json`.
    Table {
        /// Report files.
        #[arg(required = true)]
        reports: Vec<PathBuf>,
    },
    /// Fill a project with synthetic events through the store (not HTTP), in large batches.
    Seed(SeedArgs),
    /// Time the store's list, search and dashboard reads on a seeded project.
    Query(QueryArgs),
    /// Write the stored JSON of corpus events, one file each (zstd dictionary training).
    Samples(SamplesArgs),
    /// Time a server's start on an empty database until `/readyz` answers, and its idle RSS.
    Startup(StartupArgs),
    /// Hold a fixed rate on running nodes for minutes, with live subscribers and an alert
    /// webhook receiver; report each minute and whether RSS, p99 and queues stayed flat.
    Soak(Box<soak::SoakArgs>),
}

#[derive(Args)]
struct StartupArgs {
    /// The `mesher` binary.
    #[arg(long)]
    mesher: PathBuf,
    /// Starts to measure (each on a fresh data directory).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// How long the started server idles before its RSS is read.
    #[arg(long, default_value_t = 2.0)]
    idle_secs: f64,
    /// Extra arguments for `mesher` (e.g. `--database-url`; default: SQLite in a temporary
    /// data directory).
    #[arg(last = true)]
    mesher_args: Vec<String>,
    /// Print the results as JSON.
    #[arg(long)]
    json: bool,
    /// Also write the JSON results to this file.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args)]
struct SeedArgs {
    /// `sqlite://PATH` or `postgres://…` (migrated if needed).
    #[arg(long)]
    database_url: String,
    /// Fill this project instead of creating organization `seed` and a project in it.
    #[arg(long)]
    project_id: Option<i64>,
    /// Events to write.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Issues they form.
    #[arg(long, default_value_t = 50_000)]
    issues: u64,
    /// Days the events are spread over, ending now…
    #[arg(long, default_value_t = 30)]
    days: u32,
    /// …or this many days ago (events past a short retention, for `scripts/soak`).
    #[arg(long, default_value_t = 0)]
    ending_days_ago: u32,
    /// Events per write transaction.
    #[arg(long, default_value_t = 5000)]
    batch: usize,
    /// Threads building events (the store writes on another).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Seed of the generator.
    #[arg(long, default_value_t = 20240607)]
    seed: u64,
    /// Percent of issues then marked resolved (and a twentieth archived), so that status
    /// filters have something to filter.
    #[arg(long, default_value_t = 30)]
    resolved_percent: u8,
    /// Print the outcome as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct QueryArgs {
    /// `sqlite://PATH` or `postgres://…`.
    #[arg(long)]
    database_url: String,
    /// The seeded project.
    #[arg(long)]
    project_id: i64,
    /// Calls per case (after one warm-up call).
    #[arg(long, default_value_t = 30)]
    runs: usize,
    /// Also measure the API and every dashboard page through HTTP, on a server that uses the
    /// same database (`http://HOST:PORT`). Adds a user (`bench-…@example.com`, owner of the
    /// project's organization) with an API token to do so: use a throwaway database.
    #[arg(long)]
    http: Option<String>,
    /// Print the results as JSON.
    #[arg(long)]
    json: bool,
    /// Also write the JSON results to this file.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args)]
struct SamplesArgs {
    /// Directory to write `NNN.json` files into (created).
    #[arg(long)]
    out: PathBuf,
    /// Envelope corpus.
    #[arg(long, default_value = DEFAULT_CORPUS)]
    corpus: PathBuf,
    /// Keep envelope `i` when `i mod every == offset` (train on one part, measure on another).
    #[arg(long, default_value_t = 1)]
    every: usize,
    /// See `--every`.
    #[arg(long, default_value_t = 0)]
    offset: usize,
}

#[derive(Args)]
struct RunArgs {
    /// The project's DSN (`http://KEY@HOST:PORT/PROJECT_ID`).
    #[arg(long)]
    dsn: String,
    /// Request path instead of the DSN's envelope endpoint; `{id}` becomes the project id
    /// (e.g. `/api/{id}/envelope-sink/`).
    #[arg(long)]
    path: Option<String>,
    /// Envelope corpus (length-framed, see corpus/generate.py).
    #[arg(long, default_value = DEFAULT_CORPUS)]
    corpus: PathBuf,
    /// Leave out corpus envelopes larger than this many bytes.
    #[arg(long)]
    max_envelope_bytes: Option<usize>,
    /// Concurrent keep-alive connections, each with one request in flight.
    #[arg(short = 'c', long, default_value_t = 16)]
    connections: usize,
    /// Events to send.
    #[arg(short = 'n', long)]
    events: Option<u64>,
    /// Seconds to send for (with --events: whichever ends first).
    #[arg(short = 'd', long)]
    duration: Option<f64>,
    /// Target events per second (open loop; latency then counts from when each was due).
    #[arg(long)]
    rate: Option<f64>,
    /// gzip request bodies at level 9, as sentry-python does without brotli.
    #[arg(long)]
    gzip: bool,
    /// The server's process id: report its peak RSS and CPU time.
    #[arg(long)]
    server_pid: Option<u32>,
    /// The server's data directory: verify and weigh events in its SQLite database.
    #[arg(long, conflicts_with = "pg_url")]
    data_dir: Option<PathBuf>,
    /// The server's PostgreSQL URL: verify and weigh events there.
    #[arg(long)]
    pg_url: Option<String>,
    /// Project whose events are counted (default: the DSN's).
    #[arg(long)]
    project_id: Option<i64>,
    /// Name of this run in reports.
    #[arg(long, default_value = "run")]
    label: String,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Also write the JSON report to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Fail unless every request got a 2xx and, with a database, every accepted event was
    /// found there (for CI).
    #[arg(long)]
    strict: bool,
    /// Runtime threads for the generator. One keeps it off the server's other cores.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Live stream subscribers of the project, open before the load and read during it (on a
    /// thread of their own), each checked for receiving exactly the acknowledged events its
    /// filters select, in commit order; a few take everything, the rest a filtered fraction
    /// (see `fanout::mix`).
    #[arg(long, default_value_t = 0)]
    subscribers: usize,
    /// One more subscriber that opens and never reads during the load; read afterwards, it
    /// should have been told it `lagged`.
    #[arg(long)]
    stalled: bool,
    /// API token (read scope) the subscribers open their streams with; repeat it to spread
    /// them over several users (a user may open `stream_max_per_user` streams on a node).
    #[arg(long = "token")]
    tokens: Vec<String>,
}

/// How long the database may take to show events answered 2xx before the run counts as
/// unverified.
const VERIFY_TIMEOUT: Duration = Duration::from_secs(30);

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads.max(1))
            .enable_all()
            .build()
            .context("cannot start the runtime")
            .and_then(|rt| rt.block_on(run(*args))),
        Command::Table { reports } => print_table(&reports),
        Command::Seed(args) => runtime(2).and_then(|rt| rt.block_on(seed(args))),
        Command::Query(args) => runtime(1).and_then(|rt| rt.block_on(query(args))),
        Command::Samples(args) => samples(&args),
        Command::Startup(args) => runtime(1).and_then(|rt| rt.block_on(startup(args))),
        // One worker, as `run` has by default: the generator stays off the servers' other core.
        Command::Soak(args) => runtime(1).and_then(|rt| rt.block_on(soak::soak(*args))),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn runtime(threads: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .context("cannot start the runtime")
}

async fn open_store(url: &str) -> anyhow::Result<Arc<dyn mesher_store::Store>> {
    let parsed = mesher_store::DatabaseUrl::parse(url).context("invalid --database-url")?;
    let store = mesher_store::connect(&parsed).await?;
    store.migrate().await?;
    Ok(store)
}

async fn seed(args: SeedArgs) -> anyhow::Result<()> {
    let store = open_store(&args.database_url).await?;
    let project_id = match args.project_id {
        Some(id) => id,
        None => {
            let org = match store.org_by_slug("seed").await? {
                Some(org) => org,
                None => {
                    mesher_server::accounts::create_org(store.as_ref(), "Seed", Some("seed"))
                        .await?
                }
            };
            let name = format!("seed-{}", fastrand::u32(..));
            let (project, _) = mesher_server::accounts::create_project(
                store.as_ref(),
                org.id,
                &name,
                None,
                Some("python"),
            )
            .await?;
            project.id
        }
    };
    eprintln!(
        "mesher-bench seed: {} events in {} issues over {} days into project {project_id} ...",
        args.events, args.issues, args.days
    );
    let outcome = seed::seed(
        store.clone(),
        project_id,
        SeedConfig {
            events: args.events,
            issues: args.issues,
            days: args.days,
            end_days_ago: args.ending_days_ago,
            batch: args.batch.max(1),
            threads: args.threads.max(1),
            seed: args.seed,
        },
        !args.json,
    )
    .await?;
    seed::set_statuses(&args.database_url, project_id, args.resolved_percent).await?;
    if args.json {
        let mut v = serde_json::to_value(&outcome)?;
        v["project_id"] = project_id.into();
        println!("{v}");
    } else {
        println!(
            "seeded project {project_id}: {} events, {} issues in {:.1} s ({:.0} events/s)",
            outcome.stored,
            outcome.issues,
            outcome.secs,
            outcome.stored as f64 / outcome.secs
        );
    }
    Ok(())
}

async fn query(args: QueryArgs) -> anyhow::Result<()> {
    let store = open_store(&args.database_url).await?;
    let (events, issues) = store.project_counts(args.project_id).await?;
    eprintln!(
        "mesher-bench query: project {} ({events} events, {issues} issues), {} calls per case",
        args.project_id, args.runs
    );
    let mut results = queries::store_cases(store.as_ref(), args.project_id, args.runs).await?;
    if let Some(base) = &args.http {
        let targets = queries::PageTargets::find(store.as_ref(), args.project_id).await?;
        let email = format!("bench-{:08x}@example.com", fastrand::u32(..));
        let password = mesher_server::accounts::generate_password()?;
        let user = mesher_server::accounts::create_user(
            store.as_ref(),
            &email,
            None,
            &password,
            Some((targets.org_id, mesher_store::Role::Owner)),
        )
        .await?;
        let (token, _) = mesher_server::accounts::create_token(
            store.as_ref(),
            user.id,
            "mesher-bench",
            mesher_store::Scope::Read,
        )
        .await?;
        results.extend(queries::http_cases(base, &token, args.project_id, args.runs).await?);
        let cookie = queries::sign_in(base, &email, &password).await?;
        results.extend(queries::page_cases(base, &cookie, &targets, args.runs).await?);
    }
    let json = serde_json::to_string_pretty(&serde_json::json!({
        "backend": store.backend(),
        "project_id": args.project_id,
        "events": events,
        "issues": issues,
        "cases": results,
    }))?;
    if let Some(path) = &args.out {
        std::fs::write(path, format!("{json}\n"))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if args.json {
        println!("{json}");
    } else {
        print!("{}", queries::table(&results));
    }
    Ok(())
}

async fn startup(args: StartupArgs) -> anyhow::Result<()> {
    let mut ready_ms = Vec::new();
    let mut idle_rss = Vec::new();
    for run in 0..args.runs.max(1) {
        let dir = std::env::temp_dir().join(format!(
            "mesher-startup-{}-{run}-{}",
            std::process::id(),
            fastrand::u32(..)
        ));
        let result = measure::startup(&args.mesher, &dir, &args.mesher_args, args.idle_secs).await;
        let _ = std::fs::remove_dir_all(&dir);
        let s = result?;
        ready_ms.push(s.ready.as_secs_f64() * 1000.0);
        idle_rss.push(s.idle_rss_bytes);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut rss: Vec<f64> = idle_rss.iter().map(|&b| b as f64).collect();
    let result = serde_json::json!({
        "runs": ready_ms.len(),
        "ready_ms": ready_ms.clone(),
        "ready_ms_median": median(&mut ready_ms.clone()),
        "idle_rss_bytes": idle_rss,
        "idle_rss_bytes_median": median(&mut rss),
    });
    if let Some(path) = &args.out {
        std::fs::write(path, format!("{result}\n"))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if args.json {
        println!("{result}");
    } else {
        println!(
            "startup to ready (empty database): median {:.0} ms of {:?}; idle RSS median {:.1} MiB",
            median(&mut ready_ms),
            ready_ms
                .iter()
                .map(|m| format!("{m:.0}"))
                .collect::<Vec<_>>(),
            median(&mut rss) / (1024.0 * 1024.0)
        );
    }
    Ok(())
}

fn samples(args: &SamplesArgs) -> anyhow::Result<()> {
    let data = std::fs::read(&args.corpus)
        .with_context(|| format!("cannot read {}", args.corpus.display()))?;
    std::fs::create_dir_all(&args.out)?;
    let now = mesher_protocol::Timestamp::from_datetime(time::OffsetDateTime::now_utc());
    let mut written = 0;
    for (i, envelope) in corpus::split(&data)?.into_iter().enumerate() {
        if i % args.every.max(1) != args.offset {
            continue;
        }
        let parsed = mesher_protocol::parse_envelope(envelope)?;
        let Some(item) = parsed
            .items()
            .iter()
            .find(|i| i.ty == mesher_protocol::envelope::ItemType::Event)
        else {
            continue;
        };
        let mut ctx = mesher_protocol::NormalizeContext::new(
            now,
            mesher_protocol::EventId::from_bytes([7; 16]),
        );
        ctx.envelope_event_id = parsed.event_id();
        ctx.max_secs_in_past = i64::MAX / 4;
        let event = mesher_protocol::normalize_event(item.payload, &ctx)
            .map_err(|e| anyhow::anyhow!("envelope {i}: {e}"))?;
        std::fs::write(
            args.out.join(format!("{i:03}.json")),
            serde_json::to_vec(&event)?,
        )?;
        written += 1;
    }
    eprintln!("wrote {written} samples to {}", args.out.display());
    Ok(())
}

fn print_table(paths: &[PathBuf]) -> anyhow::Result<()> {
    let reports = paths
        .iter()
        .map(|p| {
            let data = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
            serde_json::from_slice(&data)
                .with_context(|| format!("{} is not a report", p.display()))
        })
        .collect::<anyhow::Result<Vec<Report>>>()?;
    print!("{}", report::table(&reports));
    Ok(())
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let mut templates = corpus::load(&args.corpus)?;
    if let Some(max) = args.max_envelope_bytes {
        templates.retain(|t| t.len() <= max);
        if templates.is_empty() {
            bail!("no corpus envelope is {max} bytes or smaller");
        }
    }
    let target = Target::from_dsn(&args.dsn, args.path.as_deref()).await?;
    let project_id = args.project_id.unwrap_or(target.project_id);
    let database = match (&args.data_dir, &args.pg_url) {
        (Some(dir), _) => Some(Database::sqlite(dir)),
        (_, Some(url)) => Some(Database::Postgres(url.clone())),
        _ => None,
    };
    let config = LoadConfig {
        connections: args.connections,
        events: args.events,
        duration: args
            .duration
            .map(Duration::try_from_secs_f64)
            .transpose()
            .context("--duration must be a non-negative number of seconds")?,
        rate: args.rate,
        gzip: args.gzip,
    };
    let ids = Arc::new(IdSource::new());
    let mut live = match args.subscribers > 0 || args.stalled {
        true => Some(
            Live::open(
                &target,
                &templates,
                &ids,
                args.subscribers,
                args.stalled,
                args.tokens.clone(),
            )
            .await?,
        ),
        false => None,
    };
    // Counted after the probe's event, which is not the run's.
    let baseline = match &database {
        Some(db) => db.count(project_id).await?,
        None => 0,
    };
    let url = target.url();
    let corpus_envelopes = templates.len();
    let prepared = load::prepare(target, Arc::new(templates), ids.clone(), &config).await?;

    eprintln!(
        "mesher-bench: {} connections against {url} ...",
        config.connections
    );
    let server_cpu_before = args
        .server_pid
        .map(|p| measure::cpu_seconds(Some(p)))
        .transpose()?;
    let client_cpu_before = measure::cpu_seconds(None)?;
    let mut outcome = prepared.start().await?;
    let run_ended = Instant::now();
    let client_cpu_secs = measure::cpu_seconds(None)? - client_cpu_before;
    let server_cpu_secs = match (args.server_pid, server_cpu_before) {
        (Some(pid), Some(before)) => Some(measure::cpu_seconds(Some(pid))? - before),
        _ => None,
    };
    let live = match live.take() {
        Some(l) => Some(l.finish(&outcome, database.as_ref(), project_id).await?),
        None => None,
    };
    // After the subscribers are done: the peak covers their fan-out and the stalled queue.
    let server_peak_rss_bytes = args.server_pid.map(measure::peak_rss_bytes).transpose()?;

    let accepted = outcome.accepted();
    let (committed_secs, committed_basis) =
        committed(&outcome, database.as_ref(), project_id, baseline, run_ended).await?;
    let footprint = match &database {
        Some(db) => Some(db.footprint().await?),
        None => None,
    };

    let elapsed_secs = outcome.elapsed.as_secs_f64();
    let per_sec = |secs: f64| {
        if secs > 0.0 {
            accepted as f64 / secs
        } else {
            0.0
        }
    };
    let mut statuses: std::collections::BTreeMap<String, u64> = outcome
        .statuses
        .iter()
        .map(|(s, n)| (s.to_string(), *n))
        .collect();
    if outcome.transport_errors > 0 {
        statuses.insert("error".into(), outcome.transport_errors);
    }
    let mean = |total: u64| {
        if outcome.sent > 0 {
            total as f64 / outcome.sent as f64
        } else {
            0.0
        }
    };
    let report = Report {
        label: args.label,
        url,
        connections: config.connections,
        target_rate: config.rate,
        gzip: config.gzip,
        corpus_envelopes,
        sent: outcome.sent,
        accepted,
        statuses,
        first_error: outcome.first_error.clone(),
        elapsed_secs,
        accepted_per_sec: per_sec(elapsed_secs),
        committed_secs,
        committed_per_sec: committed_secs.map(per_sec),
        committed_basis,
        latency: LatencySummary::from_micros(&mut outcome.latencies_us),
        mean_envelope_bytes: mean(outcome.envelope_bytes),
        mean_request_bytes: mean(outcome.wire_bytes),
        bodies_prebuilt: outcome.prebuilt,
        server_peak_rss_bytes,
        server_cpu_secs,
        client_cpu_secs,
        database: database.as_ref().map(|db| db.backend().to_string()),
        stored_events: footprint.map(|f| f.events),
        database_bytes: footprint.map(|f| f.bytes),
        bytes_per_event: footprint
            .filter(|f| f.events > 0)
            .map(|f| f.bytes as f64 / f.events as f64),
        live,
    };
    let json = serde_json::to_string_pretty(&report)?;
    if let Some(path) = &args.out {
        std::fs::write(path, format!("{json}\n"))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if args.json {
        println!("{json}");
    } else {
        print!("{}", report.text());
    }
    if args.strict {
        if report.accepted != report.sent || report.sent == 0 {
            bail!(
                "{} of {} requests were accepted ({})",
                report.accepted,
                report.sent,
                report
                    .first_error
                    .as_deref()
                    .unwrap_or("see the responses above")
            );
        }
        if database.is_some() && report.committed_secs.is_none() {
            bail!("{}", report.committed_basis);
        }
        if let Some(live) = &report.live {
            live.ensure_complete()?;
        }
    }
    Ok(())
}

/// When every accepted event was in the database, and how that is known.
///
/// Mesher answers 2xx only after the commit, so the last 2xx is the commit time of the last
/// event. With a database to look at, that is checked right after the run: if the count is
/// short (which would mean 2xx before commit), it is polled and the commit time is when the
/// count was reached.
async fn committed(
    outcome: &LoadOutcome,
    database: Option<&Database>,
    project_id: i64,
    baseline: u64,
    run_ended: Instant,
) -> anyhow::Result<(Option<f64>, String)> {
    let accepted = outcome.accepted();
    let last_2xx = outcome.last_2xx.map(|d| d.as_secs_f64());
    let Some(db) = database else {
        return Ok((
            last_2xx,
            "time of the last 2xx; not verified (give --data-dir or --pg-url)".into(),
        ));
    };
    let want = baseline + accepted;
    let now = db.count(project_id).await?;
    if now >= want {
        return Ok((
            last_2xx,
            format!(
                "time of the last 2xx; verified: the {} database held all {accepted} when the run ended",
                db.backend()
            ),
        ));
    }
    let n = db.wait_for(project_id, want, VERIFY_TIMEOUT).await?;
    let at = (outcome.elapsed + run_ended.elapsed()).as_secs_f64();
    if n >= want {
        Ok((
            Some(at),
            format!(
                "the {} database held all {accepted} only {:.2} s after the last response: \
                 some 2xx came before their commit",
                db.backend(),
                at - outcome.elapsed.as_secs_f64()
            ),
        ))
    } else {
        Ok((
            None,
            format!(
                "the {} database holds {} of {accepted} accepted events {} s after the run",
                db.backend(),
                n.saturating_sub(baseline),
                VERIFY_TIMEOUT.as_secs()
            ),
        ))
    }
}
