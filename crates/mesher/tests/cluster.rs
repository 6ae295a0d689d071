//! Issue 14: several real `mesher` processes on one PostgreSQL database form one cluster
//! (CLUSTER-01, CLUSTER-02): they see each other, see a `kill -9`ed node down within 15 s and
//! back after its restart, and exactly one of them runs the cluster's jobs, a dead leader's
//! jobs moving to a peer within 15 s without any run done twice.

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use common::cluster::{self, ClusterApi};
use common::{Env, Server};
use mesher_store::testing::Backend;
use serde_json::Value;

/// A node with a 1-second issue sweep (so the leader's job runs often).
fn node(env: &Env, name: &str) -> Server {
    cluster::node(env, name, &[("MESHER_ISSUE_SWEEP_INTERVAL_SECS", "1")])
}

fn states(view: &Value) -> HashMap<String, String> {
    view["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["name"].as_str().unwrap().to_owned(),
                n["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn state_of(view: &Value, name: &str) -> Option<String> {
    states(view).get(name).cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_see_each_other_and_one_runs_the_jobs() {
    let env = Env::new(Backend::Postgres).await;
    let a = node(&env, "node-a");
    let api = ClusterApi::new(&env);
    let b = node(&env, "node-b");
    let mut c = node(&env, "node-c");

    // Acceptance 1: all three see each other within 10 s.
    let all_up = |v: &Value| {
        let s = states(v);
        ["node-a", "node-b", "node-c"]
            .iter()
            .all(|n| s.get(*n).map(String::as_str) == Some("up"))
    };
    for server in [&a, &b, &c] {
        api.wait_for(server, Duration::from_secs(10), "three nodes up", all_up)
            .await;
    }
    let (view, _) = api
        .wait_for(&b, Duration::from_secs(10), "a leader", |v| {
            v["leader"].is_string()
        })
        .await;
    assert_eq!(view["backend"], "postgres");
    assert_eq!(view["node"], "node-b");
    let node_b = view["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "node-b")
        .unwrap();
    assert_eq!(node_b["this_node"], true);
    for key in [
        "events_per_second",
        "queue_depth",
        "handed_off",
        "taken_over",
    ] {
        assert!(node_b[key].is_number(), "{key}: {node_b}");
    }
    assert!(node_b["last_heartbeat"].is_string());
    let services: Vec<&str> = node_b["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(
        services.contains(&"load-monitor") && services.contains(&"writer"),
        "{services:?}"
    );

    // `kill -9` node-c: the others show it down within 15 s.
    c.kill_9();
    for server in [&a, &b] {
        let (_, took) = api
            .wait_for(server, Duration::from_secs(16), "node-c down", |v| {
                state_of(v, "node-c").as_deref() == Some("down")
            })
            .await;
        assert!(took <= Duration::from_secs(16), "{took:?}");
    }
    // Restarted, it is back.
    let c = node(&env, "node-c");
    api.wait_for(&a, Duration::from_secs(10), "node-c back", all_up)
        .await;

    // Acceptance 2: exactly one leader; kill -9 it, another takes over within 15 s.
    let view = api.view(&b).await;
    let leader = view["leader"].as_str().unwrap().to_owned();
    let leaders = view["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["leader"] == true)
        .count();
    assert_eq!(leaders, 1, "{view:#}");
    let epoch = view["leader_epoch"].as_i64().unwrap();
    let mut servers: HashMap<String, Server> = HashMap::from([
        ("node-a".to_owned(), a),
        ("node-b".to_owned(), b),
        ("node-c".to_owned(), c),
    ]);
    let mut dead = servers.remove(&leader).unwrap();
    // Let the leader run a few slots first.
    tokio::time::sleep(Duration::from_secs(2)).await;
    dead.kill_9();
    let survivor = servers.values().next().unwrap();
    let (view, took) = api
        .wait_for(survivor, Duration::from_secs(15), "a new leader", |v| {
            v["leader"].is_string() && v["leader"] != leader.as_str()
        })
        .await;
    assert!(view["leader_epoch"].as_i64().unwrap() > epoch, "{view:#}");
    eprintln!("leadership moved in {took:?}");
    // The new leader runs the job.
    tokio::time::sleep(Duration::from_secs(3)).await;

    // No run was done twice: each slot once (the table's key), each epoch by one node, epochs
    // never going back as slots advance, and both leaders' runs present.
    let store = mesher_store::connect(&mesher_store::DatabaseUrl::parse(env.db.url()).unwrap())
        .await
        .unwrap();
    let runs = store.job_runs("issue-sweep").await.unwrap();
    assert!(runs.len() >= 3, "{runs:?}");
    let mut by_epoch: HashMap<i64, &str> = HashMap::new();
    for pair in runs.windows(2) {
        assert!(
            pair[0].slot < pair[1].slot && pair[0].epoch <= pair[1].epoch,
            "{runs:?}"
        );
    }
    for r in &runs {
        let node = by_epoch.entry(r.epoch).or_insert(r.node.as_str());
        assert_eq!(
            *node, r.node,
            "two nodes ran under epoch {}: {runs:?}",
            r.epoch
        );
    }
    let nodes: std::collections::HashSet<&str> = runs.iter().map(|r| r.node.as_str()).collect();
    assert!(
        nodes.contains(leader.as_str()) && nodes.len() >= 2,
        "{runs:?}"
    );

    // A graceful stop leaves the registry at once.
    let (name, survivor) = servers.into_iter().next().unwrap();
    let other_view_node = name.clone();
    assert!(survivor.terminate().success());
    let store_nodes = store.nodes().await.unwrap();
    assert!(
        store_nodes.iter().all(|n| n.name != other_view_node),
        "{store_nodes:?}"
    );
}

/// On SQLite the node is alone and says so; cluster settings are a clear configuration error.
#[tokio::test]
async fn sqlite_is_one_node() {
    let env = Env::new(Backend::Sqlite).await;
    let mut cmd = env.command(&["serve", "--listen", "127.0.0.1:0"]);
    cmd.env("MESHER_ADVERTISE_URL", "http://10.0.0.2:8000");
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("advertise_url: a cluster setting, but SQLite runs one node"),
        "{err}"
    );

    let server = node(&env, "solo");
    let api = ClusterApi::new(&env);
    let (view, _) = api
        .wait_for(&server, Duration::from_secs(10), "the node leads", |v| {
            v["leader"] == "solo"
        })
        .await;
    assert_eq!(view["backend"], "sqlite");
    assert_eq!(states(&view), HashMap::from([("solo".into(), "up".into())]));
    assert!(server.terminate().success());
}

/// Acceptance 3: a key revoked through one node is refused by another within a second (the
/// database announces the change on the cluster bus as it commits).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_on_one_node_is_refused_by_another_within_a_second() {
    let env = Env::new(Backend::Postgres).await;
    let a = node(&env, "node-a");
    let (_, key) = a.banner_dsn();
    let c = node(&env, "node-c");
    let token = cluster::admin_token(&env);
    let client = reqwest::Client::new();
    let send_with = |server: &Server, key: &str| {
        client
            .post(format!("{}/api/1/store/", server.url))
            .header("x-sentry-auth", format!("Sentry sentry_key={key}"))
            .body(r#"{"message": "still here?", "level": "error"}"#)
            .send()
    };
    let send = |server: &Server| send_with(server, &key);
    // C knows the key (and caches it).
    assert_eq!(send(&c).await.unwrap().status(), 200);
    let revoked = client
        .delete(format!("{}/api/v1/projects/1/keys/{key}", a.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(revoked.status().is_success(), "{}", revoked.status());
    let start = Instant::now();
    loop {
        let status = send(&c).await.unwrap().status();
        if status != 200 {
            assert!(status == 401 || status == 403, "{status}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "C still accepts the key after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("node C refused the revoked key after {:?}", start.elapsed());

    // The bus survives losing its connection: every listening session is ended by the server;
    // the nodes reconnect, and a key revoked from the CLI (no node involved) still stops at once.
    let killed = Command::new("psql")
        .arg(mesher_store::testing::test_database_url())
        .args([
            "-Atc",
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE query LIKE 'LISTEN \"mesher_bus_%'",
        ])
        .output()
        .unwrap();
    assert!(killed.status.success(), "{killed:?}");
    let ended: i64 = String::from_utf8_lossy(&killed.stdout)
        .trim()
        .parse()
        .unwrap();
    assert!(ended >= 2, "{ended} listening sessions ended");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let second = env.json(&["key", "create", "--project", "1"]);
    let key2 = second["public_key"].as_str().unwrap().to_owned();
    assert_eq!(send_with(&c, &key2).await.unwrap().status(), 200);
    let out = env.run(&["key", "revoke", &key2]);
    assert!(out.status.success(), "{out:?}");
    let start = Instant::now();
    while send_with(&c, &key2).await.unwrap().status() == 200 {
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "C still accepts the key after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "after a reconnect, node C refused a key revoked from the CLI after {:?}",
        start.elapsed()
    );
    assert!(c.terminate().success());
    assert!(a.terminate().success());
}
