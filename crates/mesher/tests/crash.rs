//! `kill -9` under sustained ingest, then a restart: every event that was answered 2xx is in the
//! database, on SQLite and on PostgreSQL (issue 5, acceptance 2).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::Env;
use mesher_store::ProjectUpdate;
use mesher_store::testing::Backend;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_survive_kill_9_sqlite() {
    survive_kill_9(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_survive_kill_9_postgres() {
    survive_kill_9(Backend::Postgres).await;
}

/// Sends events from `clients` tasks until `stop` reaches `target` acknowledgements (or the
/// server goes away); returns the acknowledged ids.
async fn ingest(
    url: String,
    key: String,
    clients: usize,
    target: usize,
    acked: Arc<AtomicUsize>,
) -> Vec<String> {
    let client = reqwest::Client::new();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (client, url, key, acked) =
                (client.clone(), url.clone(), key.clone(), acked.clone());
            tokio::spawn(async move {
                let mut mine = Vec::new();
                let mut failures = 0;
                for n in 0.. {
                    if acked.load(Ordering::Relaxed) >= target || failures > 20 {
                        break;
                    }
                    let id = format!("{:032x}", fastrand_id(c, n));
                    let body = format!(
                        "{{\"event_id\":\"{id}\"}}\n{{\"type\":\"event\"}}\n{}\n",
                        json!({"message": format!("crash test {n}"), "level": "error"})
                    );
                    let sent = client
                        .post(&url)
                        .header("x-sentry-auth", format!("Sentry sentry_key={key}"))
                        .body(body)
                        .send()
                        .await;
                    match sent {
                        Ok(r) if r.status() == 200 => {
                            mine.push(id);
                            acked.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => failures += 1,
                    }
                }
                mine
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

fn fastrand_id(client: usize, n: usize) -> u128 {
    // Unique across clients and runs of this test.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    (nanos << 32) ^ ((client as u128) << 24) ^ n as u128
}

async fn survive_kill_9(backend: Backend) {
    let env = Env::new(backend).await;
    let server = env.serve(&[]);
    let (_, key) = server.banner_dsn();
    let url = format!("{}/api/1/envelope/", server.url);
    // This test measures durability, not the default rate limit.
    let unlimited = ProjectUpdate {
        rate_limit_per_minute: Some(0),
        ..ProjectUpdate::default()
    };
    env.db.store().update_project(1, &unlimited).await.unwrap();
    tokio::time::sleep(mesher_server::cache::EPOCH_CHECK).await;

    // Phase 1: load, and kill -9 while requests are in flight.
    let acked = Arc::new(AtomicUsize::new(0));
    let load = tokio::spawn(ingest(
        url.clone(),
        key.clone(),
        16,
        usize::MAX,
        acked.clone(),
    ));
    while acked.load(Ordering::Relaxed) < 3000 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let mut server = server;
    server.kill_9();
    let mut ids = load.await.unwrap();
    assert!(
        ids.len() >= 3000,
        "{} acknowledged before the kill",
        ids.len()
    );

    // Phase 2: restart on the same database and keep going.
    let again = env.serve(&[]);
    let url = format!("{}/api/1/envelope/", again.url);
    let acked2 = Arc::new(AtomicUsize::new(0));
    ids.extend(ingest(url, key, 16, 2500, acked2).await);
    assert!(
        ids.len() >= 5500,
        "{} events acknowledged in all",
        ids.len()
    );

    let store = env.db.store();
    let missing = common::missing_events(store.as_ref(), 1, &ids).await;
    assert!(
        missing.is_empty(),
        "{} acknowledged events lost: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    let stored = store.count_events(1).await.unwrap();
    assert!(
        stored >= ids.len() as i64,
        "{stored} stored, {} acknowledged",
        ids.len()
    );
    assert!(again.terminate().success());
}
