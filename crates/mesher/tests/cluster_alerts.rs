//! Issue 16, acceptance 1 across nodes: two `mesher` processes on one PostgreSQL database,
//! each ingesting the same new issues at the same time, fire each issue's alert once (the
//! writers race to create the issue, the engines race to claim its change).

mod common;

use std::time::Duration;

use common::Env;
use common::cluster;
use mesher_store::testing::Backend;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_racing_fire_each_alert_once() {
    let env = Env::new(Backend::Postgres).await;
    let (a, b, key) = cluster::two_nodes(&env).await;
    let rule = env.json(&[
        "alert",
        "add-rule",
        "--project",
        "1",
        "--name",
        "every new issue",
        "--trigger",
        "new_issue",
        "--cooldown",
        "0",
    ]);
    assert!(rule["id"].is_i64(), "{rule}");

    // Each of 25 new issues gets its first events on both nodes at once.
    let client = reqwest::Client::new();
    let mut sends = Vec::new();
    for n in 0..25 {
        for url in [&a.url, &b.url] {
            let (client, key, url) = (client.clone(), key.clone(), url.clone());
            sends.push(tokio::spawn(async move {
                let r = client
                    .post(format!("{url}/api/v1/events"))
                    .bearer_auth(&key)
                    .json(&json!({"message": format!("race {n}"), "level": "error",
                                 "fingerprint": [format!("race-{n}")]}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
            }));
        }
    }
    for s in sends {
        s.await.unwrap();
    }
    for _ in 0..100 {
        let listed = env.json(&["alert", "list", "--project", "1", "--limit", "500"]);
        if listed.as_array().unwrap().len() >= 25 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A moment more: a second firing would come now.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let alerts = env.json(&["alert", "list", "--project", "1", "--limit", "500"]);
    let alerts = alerts.as_array().unwrap();
    let mut issues: Vec<i64> = alerts
        .iter()
        .map(|a| a["issue_id"].as_i64().unwrap())
        .collect();
    issues.sort();
    issues.dedup();
    assert_eq!(alerts.len(), 25, "{alerts:#?}");
    assert_eq!(issues.len(), 25, "one alert per issue");
    assert!(alerts.iter().all(|a: &Value| a["kind"] == "new_issue"));
}
