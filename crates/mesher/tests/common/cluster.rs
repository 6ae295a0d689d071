//! What the multi-node tests share: starting named nodes, an admin token, the cluster view.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Env, Server};

/// Starts `mesher serve` as node `name`, with extra `MESHER_*` settings.
pub fn node(env: &Env, name: &str, settings: &[(&str, &str)]) -> Server {
    let mut cmd = env.command(&["serve", "--listen", "127.0.0.1:0", "--node-name", name]);
    cmd.envs(settings.iter().copied());
    Server::start(cmd)
}

/// Nodes `node-a` and `node-b` on `env`'s database, once each sees both up, with the DSN key
/// `node-a` printed at its first start.
pub async fn two_nodes(env: &Env) -> (Server, Server, String) {
    let a = node(env, "node-a", &[]);
    let (_, key) = a.banner_dsn();
    let b = node(env, "node-b", &[]);
    let api = ClusterApi::new(env);
    for server in [&a, &b] {
        api.wait_for(server, Duration::from_secs(10), "two nodes up", |v| {
            v["nodes_up"] == 2
        })
        .await;
    }
    (a, b, key)
}

/// An admin token of the first-start admin (an owner: may see the cluster).
pub fn admin_token(env: &Env) -> String {
    env.json(&[
        "token",
        "create",
        "--user",
        "admin@mesher.local",
        "--scope",
        "admin",
    ])["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `GET /api/v1/cluster` as an admin.
pub struct ClusterApi {
    client: reqwest::Client,
    token: String,
}

impl ClusterApi {
    /// With a new admin token of `env`.
    pub fn new(env: &Env) -> ClusterApi {
        ClusterApi {
            client: reqwest::Client::new(),
            token: admin_token(env),
        }
    }

    /// The cluster as `server` sees it.
    pub async fn view(&self, server: &Server) -> Value {
        let res = self
            .client
            .get(format!("{}/api/v1/cluster", server.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }

    /// Polls `server`'s view until `done` holds; returns the view and the time taken.
    pub async fn wait_for(
        &self,
        server: &Server,
        limit: Duration,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> (Value, Duration) {
        let start = Instant::now();
        loop {
            let view = self.view(server).await;
            if done(&view) {
                return (view, start.elapsed());
            }
            assert!(
                start.elapsed() < limit,
                "not within {limit:?}: {what}; last view {view:#}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// A node's counter (`handed_off`, `taken_over`, …) in a cluster view; 0 when absent.
pub fn counter(view: &Value, node: &str, key: &str) -> i64 {
    view["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == node)
        .and_then(|n| n[key].as_i64())
        .unwrap_or(0)
}
