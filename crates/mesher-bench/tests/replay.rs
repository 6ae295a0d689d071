//! The generator against a real in-process Mesher node, on both backends: every replayed
//! envelope is accepted and stored once (fresh ids), plain and gzip, closed and open loop; and
//! the database measurements find them. Live stream subscribers during a replay receive exactly
//! the events their filters select, in commit order.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mesher_bench::corpus::{self, DEFAULT_CORPUS, IdSource, Template};
use mesher_bench::load::{self, LoadConfig, Target};
use mesher_bench::measure::Database;
use mesher_bench::subscribers::Live;
use mesher_server::accounts;
use mesher_server::config::Settings;
use mesher_store::testing::{Backend, TestDb};
use mesher_store::{DatabaseUrl, ProjectUpdate, Role, Scope};
use tokio_util::sync::CancellationToken;

struct Node {
    dsn: String,
    /// A read token of a member of the project's organization.
    token: String,
    project_id: i64,
    database: Database,
    shutdown: CancellationToken,
    _db: TestDb,
}

async fn start(backend: Backend) -> Node {
    let db = TestDb::new(backend).await;
    let store = db.store();
    let org = accounts::create_org(store.as_ref(), "Bench", None)
        .await
        .unwrap();
    let (project, key) = accounts::create_project(store.as_ref(), org.id, "bench", None, None)
        .await
        .unwrap();
    // The default rate limit (6000 events a minute) would answer part of a replay 429.
    store
        .update_project(
            project.id,
            &ProjectUpdate {
                rate_limit_per_minute: Some(0),
                ..ProjectUpdate::default()
            },
        )
        .await
        .unwrap();
    let user = accounts::create_user(
        store.as_ref(),
        "watcher@example.com",
        None,
        "a long password",
        Some((org.id, Role::Member)),
    )
    .await
    .unwrap();
    let (token, _) = accounts::create_token(store.as_ref(), user.id, "bench", Scope::Read)
        .await
        .unwrap();
    let settings = Settings::for_tests(DatabaseUrl::parse(db.url()).unwrap());
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .unwrap();
    let public_url = settings.public_url_for(listener.local_addr().unwrap());
    let dsn = accounts::dsn(&public_url, &key.public_key, project.id);
    let shutdown = CancellationToken::new();
    tokio::spawn(mesher_server::run(
        settings,
        store,
        listener,
        shutdown.clone(),
    ));
    let database = match backend {
        Backend::Sqlite => {
            Database::Sqlite(PathBuf::from(db.url().strip_prefix("sqlite://").unwrap()))
        }
        Backend::Postgres => Database::Postgres(db.url().to_string()),
    };
    Node {
        dsn,
        token,
        project_id: project.id,
        database,
        shutdown,
        _db: db,
    }
}

fn templates() -> Arc<Vec<Template>> {
    // The typical events only: the test is about the generator, not about large bodies.
    let mut t = corpus::load(std::path::Path::new(DEFAULT_CORPUS)).unwrap();
    t.retain(|t| t.len() < 20_000);
    Arc::new(t)
}

async fn replay(backend: Backend) {
    let node = start(backend).await;
    let target = Target::from_dsn(&node.dsn, None).await.unwrap();
    let templates = templates();
    let mut sent = 0;
    for gzip in [false, true] {
        let config = LoadConfig {
            connections: 4,
            events: Some(40),
            duration: None,
            rate: None,
            gzip,
        };
        let ids = Arc::new(IdSource::new());
        let outcome = load::prepare(target.clone(), templates.clone(), ids, &config)
            .await
            .unwrap()
            .start()
            .await
            .unwrap();
        assert_eq!(
            (outcome.sent, outcome.accepted()),
            (40, 40),
            "gzip {gzip}: {:?} {:?}",
            outcome.statuses,
            outcome.first_error
        );
        assert_eq!(outcome.latencies_us.len(), 40);
        assert_eq!(
            outcome.prebuilt, gzip,
            "gzip bodies are built before the clock"
        );
        sent += 40;
    }

    // Open loop: 20 events at 100/s are spread over about 0.2 s.
    let config = LoadConfig {
        connections: 2,
        events: None,
        duration: Some(Duration::from_millis(200)),
        rate: Some(100.0),
        gzip: false,
    };
    let ids = Arc::new(IdSource::new());
    let outcome = load::prepare(target.clone(), templates.clone(), ids, &config)
        .await
        .unwrap()
        .start()
        .await
        .unwrap();
    assert_eq!(outcome.accepted(), 20, "{:?}", outcome.statuses);
    assert!(
        outcome.elapsed >= Duration::from_millis(190),
        "{:?}",
        outcome.elapsed
    );
    sent += 20;

    // 2xx means committed: every event is there, each once.
    assert_eq!(node.database.count(node.project_id).await.unwrap(), sent);
    let footprint = node.database.footprint().await.unwrap();
    assert_eq!(footprint.events, sent);
    assert!(footprint.bytes > 0);
    node.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_into_sqlite() {
    replay(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_into_postgres() {
    replay(Backend::Postgres).await;
}

/// Subscribers during a replay: each gets exactly the acknowledged events its filters select,
/// in the database's commit order.
async fn subscribers(backend: Backend) {
    let node = start(backend).await;
    let target = Target::from_dsn(&node.dsn, None).await.unwrap();
    let templates = templates();
    let ids = Arc::new(IdSource::new());
    let live = Live::open(
        &target,
        &templates,
        &ids,
        12,
        true,
        vec![node.token.clone()],
    )
    .await
    .unwrap();
    let config = LoadConfig {
        connections: 8,
        events: Some(3000),
        duration: None,
        rate: None,
        gzip: false,
    };
    let outcome = load::prepare(target, templates, ids.clone(), &config)
        .await
        .unwrap()
        .start()
        .await
        .unwrap();
    assert_eq!(outcome.accepted(), 3000, "{:?}", outcome.statuses);
    let report = live
        .finish(&outcome, Some(&node.database), node.project_id)
        .await
        .unwrap();
    report.ensure_complete().unwrap();
    assert_eq!(report.subscribers, 12);
    assert_eq!(report.unfiltered, 1);
    assert!(
        report.checks.iter().filter(|c| c.expected > 0).count() >= 8,
        "most filters select something: {:?}",
        report.checks
    );
    assert_eq!(report.checks[0].received, 3000);
    assert!(report.latency.max_ms > 0.0);
    // 3,000 events fit in the server's socket buffers (up to 4 MiB) plus the stream's queue,
    // so the stalled one may or may not have lagged here (`scripts/bench` sends enough, and the
    // server's own tests check the lag): it was read after the others, without a close.
    let stalled = report.stalled.unwrap();
    assert!(
        stalled.lagged_missed.is_some_and(|n| n > 0) || stalled.events == 3000,
        "{stalled:?}"
    );
    assert_eq!(stalled.closed, None);
    node.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_on_sqlite() {
    subscribers(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_on_postgres() {
    subscribers(Backend::Postgres).await;
}
