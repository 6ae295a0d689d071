//! An in-process Mesher node on 127.0.0.1:0 over an isolated database, with a project and its
//! DSN, for the integration tests.

#![allow(dead_code)] // Each test binary uses a different subset.

pub mod api;
pub mod js;
pub mod smtp;

use std::sync::Arc;
use std::time::Duration;

use mesher_server::config::Settings;
use mesher_server::faults::Faults;
use mesher_server::{ServerError, accounts};
use mesher_store::testing::{Backend, TestDb};
use mesher_store::{DatabaseUrl, Store};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Generates `sqlite::NAME` and `postgres::NAME` for each test function taking a `Backend`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(mesher_store::testing::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(mesher_store::testing::Backend::Postgres).await;
                }
            )*
        }
    };
}

pub struct TestServer {
    pub url: String,
    pub dsn: String,
    pub public_key: String,
    pub project_id: i64,
    pub org_id: i64,
    pub store: Arc<dyn Store>,
    pub shutdown: CancellationToken,
    pub faults: Faults,
    pub db: TestDb,
    handle: Option<JoinHandle<Result<(), ServerError>>>,
}

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        Self::start_with(backend, |_| {}).await
    }

    pub async fn start_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> TestServer {
        Self::start_on(TestDb::new(backend).await, configure).await
    }

    /// A node over `db`, which may already hold data (a node started on an old database).
    pub async fn start_on(db: TestDb, configure: impl FnOnce(&mut Settings)) -> TestServer {
        let store = db.store();
        let org = accounts::create_org(store.as_ref(), "Test Org", None)
            .await
            .unwrap();
        let (project, key) =
            accounts::create_project(store.as_ref(), org.id, "Test Project", None, Some("python"))
                .await
                .unwrap();
        let mut settings = Settings::for_tests(DatabaseUrl::parse(db.url()).unwrap());
        configure(&mut settings);
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .unwrap();
        let bound = listener.local_addr().unwrap();
        let public_url = settings.public_url_for(bound);
        let url = format!("http://{bound}");
        let dsn = accounts::dsn(&public_url, &key.public_key, project.id);
        let shutdown = CancellationToken::new();
        let faults = Faults::default();
        let handle = tokio::spawn(mesher_server::run_with(
            settings,
            store.clone(),
            listener,
            shutdown.clone(),
            faults.clone(),
        ));
        TestServer {
            url,
            dsn,
            public_key: key.public_key,
            project_id: project.id,
            org_id: org.id,
            store,
            shutdown,
            faults,
            db,
            handle: Some(handle),
        }
    }

    pub fn envelope_url(&self) -> String {
        format!("{}/api/{}/envelope/", self.url, self.project_id)
    }

    pub fn auth_header(&self) -> String {
        format!(
            "Sentry sentry_version=7, sentry_client=test/1.0, sentry_key={}",
            self.public_key
        )
    }

    /// Stops the node and returns how `run` ended.
    pub async fn stop(&mut self) -> Result<(), ServerError> {
        self.shutdown.cancel();
        let handle = self.handle.take().unwrap();
        tokio::time::timeout(Duration::from_secs(60), handle)
            .await
            .expect("the node stops within 60 s")
            .expect("the node task does not panic")
    }

    /// The value of a Prometheus sample line (`name{labels}`), or 0.
    pub async fn metric(&self, series: &str) -> f64 {
        let text = reqwest::get(format!("{}/metrics", self.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| {
                l.strip_prefix(series)
                    .and_then(|rest| rest.trim().parse().ok())
            })
            .unwrap_or(0.0)
    }

    /// Waits until `n` events of the project are stored.
    pub async fn wait_for_events(&self, n: i64) {
        for _ in 0..500 {
            if self.store.count_events(self.project_id).await.unwrap() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "expected {n} events, found {}",
            self.store.count_events(self.project_id).await.unwrap()
        );
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A Sentry envelope with one event item.
pub fn envelope(event_id: &str, event: &serde_json::Value) -> Vec<u8> {
    let payload = serde_json::to_vec(event).unwrap();
    let mut out = format!(
        "{{\"event_id\":\"{event_id}\"}}\n{{\"type\":\"event\",\"length\":{}}}\n",
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(&payload);
    out.push(b'\n');
    out
}

/// An event for the store's batch writer, received and timestamped `at`, grouped by `message`
/// alone: for events that ingestion would refuse (too old) or that would take too long to send
/// through HTTP.
pub fn stored_event(
    project_id: i64,
    message: &str,
    at: time::OffsetDateTime,
) -> mesher_store::NewEvent {
    let json = serde_json::to_vec(&serde_json::json!({ "message": message })).unwrap();
    mesher_store::NewEvent {
        project_id,
        event_id: mesher_protocol::EventId::from_bytes(fastrand::u128(..).to_be_bytes()),
        fingerprint: message.into(),
        timestamp: at,
        received_at: at,
        level: mesher_protocol::Level::Error,
        title: message.into(),
        culprit: None,
        environment: None,
        release: None,
        search_text: message.into(),
        tags: vec![],
        user_key: None,
        grouping: serde_json::json!({"kind": "message", "components": [message]}).to_string(),
        payload_size: json.len() as u32,
        payload: mesher_store::compress_payload(&json),
    }
}

/// 32 random hex characters.
pub fn new_id() -> String {
    format!("{:032x}", fastrand::u128(..))
}

/// The Python interpreter with `sentry-sdk` (scripts/test creates it).
pub fn python() -> std::path::PathBuf {
    if let Ok(p) = std::env::var("MESHER_TEST_PYTHON") {
        return p.into();
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let default = std::path::Path::new(&home).join(".cache/mesher-venv/bin/python");
    assert!(
        default.exists(),
        "the Python SDK tests need a virtualenv with sentry-sdk: run scripts/test (it creates \
         ~/.cache/mesher-venv) or set MESHER_TEST_PYTHON"
    );
    default
}
