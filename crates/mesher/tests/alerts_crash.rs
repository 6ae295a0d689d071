//! Issue 16, acceptance 4: `kill -9` between firing and delivery. The node is killed while its
//! webhook request is in flight (the receiver has not answered); after a restart the node
//! releases what it held, delivers again with the same idempotency key, and the delivery is
//! recorded once, as delivered.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::Env;
use common::cluster::{self, ClusterApi};
use mesher_store::testing::Backend;
use serde_json::json;

/// The idempotency keys of the requests received, and whether each was answered.
type Hits = Arc<Mutex<Vec<(String, bool)>>>;

/// A receiver that never answers its first request, and answers 200 to the others.
async fn receiver() -> (String, Hits) {
    let hits: Hits = Arc::default();
    async fn hook(State(hits): State<Hits>, headers: HeaderMap) -> StatusCode {
        let key = headers["x-mesher-delivery"].to_str().unwrap().to_owned();
        let first = {
            let mut h = hits.lock().unwrap();
            let first = h.is_empty();
            h.push((key, !first));
            first
        };
        if first {
            std::future::pending::<()>().await;
        }
        StatusCode::OK
    }
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(hits.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, hits)
}

async fn wait_for(what: &str, done: impl Fn() -> bool) {
    for _ in 0..300 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not within 15 s: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_interrupted_by_kill_9_is_made_once_after_the_restart() {
    let env = Env::new(Backend::Postgres).await;
    let settings = [("MESHER_WEBHOOK_ALLOW_PRIVATE", "true")];
    let mut node = cluster::node(&env, "alerts-node", &settings);
    let (_, key) = node.banner_dsn();
    let (url, hits) = receiver().await;
    env.json(&[
        "alert",
        "add-rule",
        "--project",
        "1",
        "--name",
        "to the hook",
        "--trigger",
        "new_issue",
        "--webhook",
        &url,
    ]);
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/events", node.url))
        .bearer_auth(&key)
        .json(&json!({"message": "fired before the crash", "level": "error"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    wait_for("the first attempt reaches the receiver", || {
        !hits.lock().unwrap().is_empty()
    })
    .await;
    node.kill_9();

    // The alert fired and its delivery is waiting, with no attempt recorded.
    let alert = env.json(&["alert", "list", "--project", "1"])[0].clone();
    let id = alert["id"].as_i64().unwrap().to_string();
    let shown = env.json(&["alert", "show", "--project", "1", &id]);
    assert_eq!(shown["deliveries"][0]["state"], "pending", "{shown}");
    assert_eq!(shown["deliveries"][0]["attempts"], 0);

    let node = cluster::node(&env, "alerts-node", &settings);
    let api = ClusterApi::new(&env);
    api.wait_for(&node, Duration::from_secs(10), "the node is up", |v| {
        v["nodes_up"].as_i64() >= Some(1)
    })
    .await;
    wait_for("the delivery is made again", || {
        hits.lock().unwrap().iter().any(|(_, answered)| *answered)
    })
    .await;
    // Time for a third request, were there one.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let hits = hits.lock().unwrap().clone();
    assert_eq!(
        hits.len(),
        2,
        "the interrupted attempt and the one after: {hits:?}"
    );
    assert_eq!(hits[0].0, hits[1].0, "one idempotency key");
    let shown = env.json(&["alert", "show", "--project", "1", &id]);
    let delivery = &shown["deliveries"][0];
    assert_eq!(delivery["state"], "delivered", "{shown}");
    assert_eq!(delivery["attempts"], 1, "the one that got an answer");
    assert_eq!(delivery["attempt_log"][0]["status"], 200);
    assert_eq!(delivery["idempotency_key"], hits[0].0.as_str());
}
