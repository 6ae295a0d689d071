//! PostgreSQL stopped and started under load (issue 5, acceptance 4): while it is down ingest
//! answers 503 — never a 2xx for an event that is not committed — and when it returns Mesher
//! recovers by itself. The test runs its own throwaway PostgreSQL (initdb + pg_ctl on its own
//! port and directory) so that other tests are not disturbed.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{envelope, new_id};
use mesher_protocol::EventId;
use mesher_server::accounts;
use mesher_server::config::Settings;
use mesher_store::{DatabaseUrl, PostgresStore, ProjectUpdate, Store};
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// A PostgreSQL cluster of the test's own, run as the `postgres` user.
struct ThrowawayPg {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

fn pg_bin() -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    let version = std::fs::read_dir(root)
        .expect(
            "PostgreSQL server binaries under /usr/lib/postgresql (Debian's postgresql package)",
        )
        .filter_map(Result::ok)
        .map(|e| e.path())
        .max()
        .expect("a PostgreSQL version directory");
    version.join("bin")
}

fn as_postgres(args: &[&str]) -> std::process::Output {
    let out = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .args(args)
        .output()
        .expect("runuser");
    assert!(
        out.status.success(),
        "{args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl ThrowawayPg {
    fn start() -> ThrowawayPg {
        let dir = tempfile::Builder::new()
            .prefix("mesher-pg-")
            .tempdir()
            .unwrap();
        Command::new("chown")
            .args(["postgres:postgres"])
            .arg(dir.path())
            .status()
            .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = ThrowawayPg {
            bin: pg_bin(),
            port,
            dir,
        };
        let data = pg.data();
        as_postgres(&[
            pg.bin.join("initdb").to_str().unwrap(),
            "-D",
            data.to_str().unwrap(),
            "--auth=trust",
            "-U",
            "postgres",
            "--no-sync",
        ]);
        pg.ctl("start");
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn ctl(&self, action: &str) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log");
        let mut args = vec![
            self.bin.join("pg_ctl").to_str().unwrap().to_string(),
            "-D".into(),
            self.data().to_str().unwrap().to_string(),
            "-w".into(),
            "-l".into(),
            log.to_str().unwrap().to_string(),
            "-o".into(),
            opts,
        ];
        if action == "stop" {
            args.extend(["-m".into(), "fast".into()]);
        }
        args.push(action.into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        as_postgres(&args);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for ThrowawayPg {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args([
                "-D",
                self.data().to_str().unwrap(),
                "-m",
                "immediate",
                "stop",
            ])
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_answers_503_while_postgres_is_down_and_recovers() {
    let pg = ThrowawayPg::start();
    let store: Arc<dyn Store> = Arc::new(PostgresStore::connect(&pg.url()).await.unwrap());
    store.migrate().await.unwrap();
    let org = accounts::create_org(store.as_ref(), "O", None)
        .await
        .unwrap();
    let (project, key) = accounts::create_project(store.as_ref(), org.id, "P", None, None)
        .await
        .unwrap();
    let unlimited = ProjectUpdate {
        rate_limit_per_minute: Some(0),
        ..ProjectUpdate::default()
    };
    store.update_project(project.id, &unlimited).await.unwrap();
    let settings = Settings::for_tests(DatabaseUrl::parse(&pg.url()).unwrap());
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .unwrap();
    let url = format!(
        "http://{}/api/{}/envelope/",
        listener.local_addr().unwrap(),
        project.id
    );
    let shutdown = CancellationToken::new();
    let node = tokio::spawn(mesher_server::run(
        settings,
        store.clone(),
        listener,
        shutdown.clone(),
    ));

    let running = Arc::new(AtomicBool::new(true));
    let loaders: Vec<_> = (0..4)
        .map(|_| {
            let (url, key, running) = (url.clone(), key.public_key.clone(), running.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut results = Vec::new();
                while running.load(Ordering::Relaxed) {
                    let id = new_id();
                    let status = client
                        .post(&url)
                        .header("x-sentry-auth", format!("Sentry sentry_key={key}"))
                        .body(envelope(&id, &json!({"message": "outage"})))
                        .timeout(Duration::from_secs(60))
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                        .unwrap_or(0);
                    results.push((id, status, std::time::Instant::now()));
                    if status != 200 {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
                results
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_secs(1)).await;
    pg.ctl("stop");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let restarted = std::time::Instant::now();
    pg.ctl("start");
    tokio::time::sleep(Duration::from_secs(4)).await;
    running.store(false, Ordering::Relaxed);

    let mut results = Vec::new();
    for l in loaders {
        results.extend(l.await.unwrap());
    }
    let acked: Vec<&String> = results
        .iter()
        .filter(|r| r.1 == 200)
        .map(|r| &r.0)
        .collect();
    let refused = results.iter().filter(|r| r.1 == 503).count();
    assert!(refused > 0, "requests during the outage are answered 503");
    assert!(
        results.iter().all(|r| r.1 == 200 || r.1 == 503),
        "only 200 and 503: {:?}",
        results
            .iter()
            .filter(|r| r.1 != 200 && r.1 != 503)
            .take(5)
            .collect::<Vec<_>>()
    );
    let recovered = results
        .iter()
        .filter(|r| r.1 == 200 && r.2 > restarted)
        .count();
    assert!(
        recovered > 0,
        "ingest resumes after PostgreSQL returns, without restarting Mesher"
    );

    for id in &acked {
        assert!(
            store
                .event(project.id, EventId::parse(id).unwrap())
                .await
                .unwrap()
                .is_some(),
            "acknowledged event {id} is missing"
        );
    }
    shutdown.cancel();
    node.await.unwrap().unwrap();
}
