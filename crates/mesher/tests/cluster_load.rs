//! Issue 14, acceptance 4 and 5 (CLUSTER-03, CLUSTER-05): a node flooded far past the load
//! monitor's threshold hands events to its idle peers, which commit a visible share; every
//! acknowledged event is stored exactly once, also when the node handing off and a node taking
//! are killed with `kill -9` under load. Real `mesher` processes on one PostgreSQL database.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::cluster::{self, ClusterApi, counter};
use common::{Env, Server};
use mesher_store::testing::Backend;
use mesher_store::{ProjectUpdate, Store};
use serde_json::json;

fn node(env: &Env, name: &str) -> Server {
    // One-second windows: the test need not wait five seconds for each decision.
    cluster::node(env, name, &[("MESHER_LOAD_MONITOR_INTERVAL_SECS", "1")])
}

/// Events sent and acknowledged by a flood of one node.
struct Flood {
    sent: Vec<String>,
    acked: Vec<String>,
}

/// Sends envelopes to `url` from `clients` tasks until `stop` (or the node is gone).
async fn flood(
    url: String,
    key: String,
    clients: usize,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicUsize>,
) -> Flood {
    let client = reqwest::Client::new();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (client, url, key, stop, acked) = (
                client.clone(),
                url.clone(),
                key.clone(),
                stop.clone(),
                acked.clone(),
            );
            tokio::spawn(async move {
                let (mut sent, mut ok) = (Vec::new(), Vec::new());
                let mut failures = 0;
                for n in 0u64.. {
                    if stop.load(Ordering::Relaxed) || failures > 20 {
                        break;
                    }
                    let id = format!("{:032x}", unique(c, n));
                    let body = format!(
                        "{{\"event_id\":\"{id}\"}}\n{{\"type\":\"event\"}}\n{}\n",
                        json!({"message": format!("flood {}", n % 7), "level": "error"})
                    );
                    sent.push(id.clone());
                    let answer = client
                        .post(&url)
                        .header("x-sentry-auth", format!("Sentry sentry_key={key}"))
                        .body(body)
                        .send()
                        .await;
                    match answer {
                        Ok(r) if r.status() == 200 => {
                            ok.push(id);
                            acked.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => failures += 1,
                    }
                }
                (sent, ok)
            })
        })
        .collect();
    let mut all = Flood {
        sent: Vec::new(),
        acked: Vec::new(),
    };
    for t in tasks {
        let (sent, ok) = t.await.unwrap();
        all.sent.extend(sent);
        all.acked.extend(ok);
    }
    all
}

fn unique(client: usize, n: u64) -> u128 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    (nanos << 40) ^ ((client as u128) << 32) ^ u128::from(n)
}

/// Waits until no handed-off event is left, then checks that every acknowledged event is
/// stored and nothing more than was sent is.
async fn every_acknowledged_event_is_stored_once(store: &dyn Store, flood: &Flood) {
    let start = Instant::now();
    while store.overflow_depth().await.unwrap() > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "handed-off events still waiting after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // The takers commit before they delete; give the last batch its commit.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let missing = common::missing_events(store, 1, &flood.acked).await;
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged events lost: {:?}",
        missing.len(),
        flood.acked.len(),
        &missing[..missing.len().min(5)]
    );
    // Each stored event is a distinct id (the table's unique key) among those sent.
    let stored = store.count_events(1).await.unwrap();
    let sent: HashSet<&String> = flood.sent.iter().collect();
    assert!(
        stored >= flood.acked.len() as i64 && stored <= sent.len() as i64,
        "{stored} stored, {} acknowledged, {} sent",
        flood.acked.len(),
        sent.len()
    );
}

async fn three_nodes(env: &Env) -> (Server, Server, Server, String, ClusterApi) {
    let a = node(env, "node-a");
    let (_, key) = a.banner_dsn();
    let unlimited = ProjectUpdate {
        rate_limit_per_minute: Some(0),
        ..ProjectUpdate::default()
    };
    env.db.store().update_project(1, &unlimited).await.unwrap();
    let api = ClusterApi::new(env);
    let b = node(env, "node-b");
    let c = node(env, "node-c");
    // Every node sees the other two before the flood starts.
    api.wait_for(&a, Duration::from_secs(10), "three nodes up", |v| {
        v["nodes_up"] == 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    (a, b, c, key, api)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooded_node_hands_work_to_its_idle_peers() {
    let env = Env::new(Backend::Postgres).await;
    let (a, b, c, key, api) = three_nodes(&env).await;
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicUsize::new(0));
    let load = tokio::spawn(flood(
        format!("{}/api/1/envelope/", a.url),
        key,
        16,
        stop.clone(),
        acked.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(8)).await;
    stop.store(true, Ordering::Relaxed);
    let flood = load.await.unwrap();
    assert!(
        flood.acked.len() > 1000,
        "{} acknowledged",
        flood.acked.len()
    );
    let store = env.db.store();
    every_acknowledged_event_is_stored_once(store.as_ref(), &flood).await;

    // B and C committed a visible share, by their own counters; A says what it handed off.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let view = api.view(&b).await;
    let handed = counter(&view, "node-a", "handed_off");
    let taken = counter(&view, "node-b", "taken_over") + counter(&view, "node-c", "taken_over");
    eprintln!(
        "acknowledged {}, handed off {handed}, taken by B {} and C {}",
        flood.acked.len(),
        counter(&view, "node-b", "taken_over"),
        counter(&view, "node-c", "taken_over")
    );
    assert!(counter(&view, "node-b", "taken_over") > 0, "{view:#}");
    assert!(counter(&view, "node-c", "taken_over") > 0, "{view:#}");
    assert!(
        handed >= taken && handed > flood.acked.len() as i64 / 10,
        "{view:#}"
    );
    let metrics = reqwest::get(format!("{}/metrics", c.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("mesher_cluster_nodes 3"), "{metrics}");
    assert!(
        !metrics.contains("mesher_events_taken_over_total 0\n"),
        "{metrics}"
    );
    for s in [a, b, c] {
        assert!(s.terminate().success());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_node_handing_off_and_one_taking_loses_nothing() {
    let env = Env::new(Backend::Postgres).await;
    let (mut a, mut b, c, key, api) = three_nodes(&env).await;
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicUsize::new(0));
    let load = tokio::spawn(flood(
        format!("{}/api/1/envelope/", a.url),
        key,
        16,
        stop.clone(),
        acked.clone(),
    ));
    // Hand-off under way: B has taken some.
    let start = Instant::now();
    loop {
        let view = api.view(&c).await;
        if counter(&view, "node-b", "taken_over") > 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no hand-off: {view:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A taker dies under load, then the node handing off.
    b.kill_9();
    tokio::time::sleep(Duration::from_secs(3)).await;
    a.kill_9();
    stop.store(true, Ordering::Relaxed);
    let flood = load.await.unwrap();
    assert!(
        flood.acked.len() > 500,
        "{} acknowledged",
        flood.acked.len()
    );
    // C takes what A left and what B had claimed once the claims lapse.
    let store = env.db.store();
    every_acknowledged_event_is_stored_once(store.as_ref(), &flood).await;
    assert!(c.terminate().success());
}
