//! Issue 14: what the cluster bus carries, seen from another session listening on the same
//! PostgreSQL channel: one message per committed batch, the issues a batch created, and a
//! status change made through the API.

mod common;

use std::time::Duration;

use common::TestServer;
use common::api::{Api, ingest, owner_token};
use mesher_store::testing::Backend;
use mesher_store::{ArchiveUntil, BusSubscription, StatusChange};
use reqwest::Method;
use serde_json::{Value, json};

/// The next message of `node` of type `kind` (other tests share the channel).
async fn next(sub: &mut BusSubscription, node: &str, kind: &str) -> Value {
    let wait = async {
        loop {
            let payload = sub.recv().await.expect("the bus connection ended");
            // Other tests share the channel, and one of them sends junk.
            let Ok(m) = serde_json::from_str::<Value>(&payload) else {
                continue;
            };
            if m["node"] == node && m["type"] == kind {
                return m;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .unwrap_or_else(|_| panic!("no {kind} message from {node} within 10 s"))
}

/// A session listening to `s`'s bus, and the name of `s`'s node (`<hostname>:<port>`).
async fn listen(s: &TestServer) -> (BusSubscription, String) {
    let sub = s
        .store
        .subscribe()
        .await
        .unwrap()
        .expect("PostgreSQL has a bus");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let port = s.url.rsplit(':').next().unwrap().trim_end_matches('/');
    (sub, format!("{}:{port}", host.trim()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_and_issue_changes_are_announced_once_each() {
    let s = TestServer::start(Backend::Postgres).await;
    let (mut sub, node) = listen(&s).await;

    let event = json!({"message": "bus check", "level": "error"});
    ingest(&s, event).await;
    let batch = next(&mut sub, &node, "batch").await;
    assert_eq!(batch["v"], 1);
    assert_eq!(batch["projects"][0]["project_id"], s.project_id);
    assert_eq!(batch["projects"][0]["stored"], 1);
    let created = next(&mut sub, &node, "issues").await;
    let issue = &created["issues"][0];
    assert_eq!(issue["change"], "created");
    assert_eq!(issue["project_id"], s.project_id);
    let issue_id = issue["issue_id"].as_i64().unwrap();

    let api = Api::new(&s, Some(owner_token(&s).await));
    api.ok(
        Method::POST,
        &format!("/api/v1/issues/{issue_id}/status"),
        Some(json!({"status": "resolved"})),
    )
    .await;
    let resolved = next(&mut sub, &node, "issues").await;
    assert_eq!(
        resolved["issues"],
        json!([{"project_id": s.project_id, "issue_id": issue_id, "change": "resolved"}])
    );
    // A second event of the issue regresses it: announced as such.
    ingest(&s, json!({"message": "bus check", "level": "error"})).await;
    let regressed = next(&mut sub, &node, "issues").await;
    assert_eq!(regressed["issues"][0]["change"], "regressed");
}

/// Issue 14, acceptance 7: nodes talk to each other only through PostgreSQL (no endpoint of one
/// node is called by another), so the bus is the one thing a stranger could write to. A
/// payload that is not a message of a version this node knows is ignored: nothing is applied,
/// the bus keeps going, ingest keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bus_ignores_what_is_not_a_known_message() {
    let s = TestServer::start(Backend::Postgres).await;
    let (mut sub, node) = listen(&s).await;
    for junk in [
        "not json",
        r#"{"v": 2, "type": "config", "epoch": 1}"#,
        r#"{"v": 1, "type": "shutdown", "node": "everyone"}"#,
        r#"{"v": 1, "type": "batch", "node": 7}"#,
        &"x".repeat(7_999),
    ] {
        s.store.publish(junk).await.unwrap();
    }
    ingest(&s, json!({"message": "after the junk", "level": "error"})).await;
    let batch = next(&mut sub, &node, "batch").await;
    assert_eq!(batch["projects"][0]["stored"], 1);
    // The node's bus service read the junk and is still running, never restarted.
    let ready: Value = reqwest::get(format!("{}/readyz", s.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bus = ready["checks"]["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "cluster-bus")
        .cloned()
        .unwrap_or_else(|| panic!("{ready:#}"));
    assert_eq!(
        (bus["state"].as_str(), bus["restarts"].as_i64()),
        (Some("running"), Some(0))
    );
}

/// The issue sweep (a cluster job) announces the archives it ends as escalations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_announces_escalations() {
    let s = TestServer::start_with(Backend::Postgres, |settings| {
        settings.cluster.issue_sweep_interval = Duration::from_secs(1);
    })
    .await;
    let (mut sub, node) = listen(&s).await;
    ingest(
        &s,
        json!({"message": "archived for a minute", "level": "error"}),
    )
    .await;
    let created = next(&mut sub, &node, "issues").await;
    let issue_id = created["issues"][0]["issue_id"].as_i64().unwrap();
    // Archived for a minute, two minutes ago: the archive is over, and the next sweep ends it.
    s.store
        .set_issue_status(
            issue_id,
            StatusChange::Archive(ArchiveUntil::Duration { minutes: 1 }),
            None,
            mesher_store::now() - time::Duration::minutes(2),
        )
        .await
        .unwrap();
    let escalated = next(&mut sub, &node, "issues").await;
    assert_eq!(
        escalated["issues"],
        json!([{"project_id": s.project_id, "issue_id": issue_id, "change": "escalated"}])
    );
}
