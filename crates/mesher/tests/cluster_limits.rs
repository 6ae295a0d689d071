//! Issue 14, acceptance 6: a project's rate limit holds for the whole cluster, within 10 %,
//! with clients spread over three real nodes: each node up enforces its share of the limit.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::cluster::{self, ClusterApi};
use common::{Env, Server};
use mesher_store::ProjectUpdate;
use mesher_store::testing::Backend;
use serde_json::json;

fn node(env: &Env, name: &str) -> Server {
    cluster::node(env, name, &[("MESHER_LOAD_MONITOR_INTERVAL_SECS", "1")])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_rate_limit_holds_across_three_nodes() {
    let env = Env::new(Backend::Postgres).await;
    let a = node(&env, "node-a");
    let (_, key) = a.banner_dsn();
    // 1,200 events a minute: 20 a second, and a burst of a tenth of the minute's (the
    // limiter's rule on one node; with three nodes each has a third of both).
    let per_minute = 1200.0;
    let burst = per_minute / 10.0;
    let limited = ProjectUpdate {
        rate_limit_per_minute: Some(per_minute as i64),
        ..ProjectUpdate::default()
    };
    env.db.store().update_project(1, &limited).await.unwrap();
    let b = node(&env, "node-b");
    let c = node(&env, "node-c");
    let api = ClusterApi::new(&env);
    // Every node counts three nodes up (its share is a third) before the load starts.
    for server in [&a, &b, &c] {
        api.wait_for(server, Duration::from_secs(10), "three nodes up", |v| {
            v["nodes_up"] == 3
        })
        .await;
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;

    let client = reqwest::Client::new();

    let accepted = Arc::new(AtomicU64::new(0));
    let limited = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let began = Instant::now();
    let mut tasks = Vec::new();
    for server in [&a, &b, &c] {
        for _ in 0..3 {
            let (client, url, key) = (
                client.clone(),
                format!("{}/api/1/store/", server.url),
                key.clone(),
            );
            let (accepted, limited, stop) = (accepted.clone(), limited.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let r = client
                        .post(&url)
                        .header("x-sentry-auth", format!("Sentry sentry_key={key}"))
                        .body(json!({"message": "limited", "level": "error"}).to_string())
                        .send()
                        .await
                        .unwrap();
                    match r.status().as_u16() {
                        200 => accepted.fetch_add(1, Ordering::Relaxed),
                        429 => limited.fetch_add(1, Ordering::Relaxed),
                        other => panic!("unexpected status {other}"),
                    };
                }
            }));
        }
    }
    tokio::time::sleep(Duration::from_secs(10)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let secs = began.elapsed().as_secs_f64();
    let accepted = accepted.load(Ordering::Relaxed) as f64;
    let expected = burst + per_minute / 60.0 * secs;
    eprintln!(
        "accepted {accepted} in {secs:.2} s (limit allows {expected:.0}), refused {}",
        limited.load(Ordering::Relaxed)
    );
    assert!(
        limited.load(Ordering::Relaxed) > 0,
        "the load must exceed the limit"
    );
    assert!(
        (accepted - expected).abs() <= expected * 0.10,
        "accepted {accepted}, the cluster-wide limit allows {expected:.0} (±10 %)"
    );
    for s in [a, b, c] {
        assert!(s.terminate().success());
    }
}
