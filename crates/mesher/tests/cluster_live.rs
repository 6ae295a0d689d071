//! Issue 15, acceptance 4: a live stream on one node of a PostgreSQL cluster receives the
//! events ingested on another within a second (STREAM-01 across nodes), each once.

mod common;

use std::time::{Duration, Instant};

use common::Env;
use common::cluster;
use futures_util::StreamExt;
use mesher_store::testing::Backend;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next `event` message within `limit`.
async fn next_event(ws: &mut Ws, limit: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let m = tokio::time::timeout_at(deadline, ws.next()).await.ok()??;
        if let Message::Text(t) = m.expect("a valid frame") {
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["type"] == "event" {
                return Some(v);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_on_one_node_receives_events_ingested_on_another_within_a_second() {
    let env = Env::new(Backend::Postgres).await;
    let (a, b, key) = cluster::two_nodes(&env).await;
    let token = cluster::admin_token(&env);
    let mut request = format!(
        "{}/api/v1/projects/1/stream",
        a.url.replacen("http", "ws", 1)
    )
    .into_client_request()
    .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();

    let client = reqwest::Client::new();
    let send = |url: String, n: usize| {
        let (client, key) = (client.clone(), key.clone());
        async move {
            let r = client
                .post(format!("{url}/api/v1/events"))
                .bearer_auth(&key)
                .json(&json!({"message": format!("sent {n}"), "level": "error"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
            r.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };

    // Events ingested on node B, one at a time, each timed from its acknowledgement.
    let mut latencies = Vec::new();
    for n in 0..20 {
        let sent = Instant::now();
        let id = send(b.url.clone(), n).await;
        let acknowledged = sent.elapsed();
        let got = next_event(&mut ws, Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("event {n} from node B never arrived on node A"));
        assert_eq!(got["id"], id.as_str(), "in order, nothing else between");
        assert_eq!(got["title"], format!("sent {n}"));
        latencies.push(sent.elapsed().saturating_sub(acknowledged));
    }
    latencies.sort();
    let worst = *latencies.last().unwrap();
    eprintln!(
        "node B acknowledgement → node A subscriber: p50 {:?}, max {:?}",
        latencies[latencies.len() / 2],
        worst
    );
    assert!(worst < Duration::from_secs(1), "{latencies:?}");

    // Events of both nodes, interleaved: each arrives once (node A's own are sent directly,
    // and never again from a peer's range of rows).
    let mut expected = Vec::new();
    for n in 20..40 {
        let url = if n % 2 == 0 { &a.url } else { &b.url };
        expected.push(send(url.clone(), n).await);
    }
    let mut received = Vec::new();
    while let Some(e) = next_event(&mut ws, Duration::from_secs(3)).await {
        received.push(e["id"].as_str().unwrap().to_owned());
    }
    let mut sorted = received.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), received.len(), "no event twice: {received:?}");
    let mut want = expected.clone();
    want.sort();
    assert_eq!(sorted, want, "every event of both nodes");
}
