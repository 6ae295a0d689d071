//! Supervision and crash isolation with fault injection (RESIL-01 … RESIL-03; issue 5,
//! acceptance 1 and 3): crashed and hung services come back, nothing acknowledged is lost or
//! doubled, a panic in one request or socket touches nothing else, and a shutdown drains.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{TestServer, envelope, new_id};
use futures_util::{SinkExt, StreamExt};
use mesher_protocol::EventId;
use mesher_server::faults::Fault;
use mesher_store::testing::Backend;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

on_both_backends!(
    a_writer_panic_under_load_loses_and_doubles_nothing,
    a_hung_writer_is_restarted_by_the_health_check,
    a_processor_panic_fails_only_what_it_held,
    a_panic_in_one_request_answers_500_and_nothing_else,
    a_panic_in_one_socket_closes_only_that_socket,
    a_service_past_its_budget_fails_the_node,
    a_shutdown_drains_what_was_accepted,
);

fn fast_health(settings: &mut mesher_server::config::Settings) {
    settings.limits.health_check_interval = Duration::from_millis(200);
}

async fn send(s: &TestServer, id: &str) -> u16 {
    match reqwest::Client::new()
        .post(s.envelope_url())
        .header("x-sentry-auth", s.auth_header())
        .body(envelope(id, &json!({"message": format!("load {id}")})))
        .send()
        .await
    {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    }
}

/// `clients` tasks each sending `per_client` events; returns (id, status) of every request.
async fn load(s: &Arc<TestServer>, clients: usize, per_client: usize) -> Vec<(String, u16)> {
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move {
                let mut out = Vec::new();
                for _ in 0..per_client {
                    let id = new_id();
                    let status = send(&s, &id).await;
                    out.push((id, status));
                }
                out
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

async fn restarts(s: &TestServer, service: &str) -> f64 {
    s.metric(&format!(
        "mesher_service_restarts_total{{service=\"{service}\"}}"
    ))
    .await
}

/// Every acknowledged event is stored, and the store holds nothing else.
async fn assert_exactly_stored(s: &TestServer, acked: &[String], before: i64) {
    for id in acked {
        assert!(
            s.store
                .event(s.project_id, EventId::parse(id).unwrap())
                .await
                .unwrap()
                .is_some(),
            "acknowledged event {id} is missing"
        );
    }
    let distinct: HashSet<&String> = acked.iter().collect();
    assert_eq!(
        s.store.count_events(s.project_id).await.unwrap(),
        before + distinct.len() as i64,
        "no event is stored twice, none without an acknowledgement"
    );
    let issue_total: i64 = s
        .store
        .list_issues(s.project_id)
        .await
        .unwrap()
        .iter()
        .map(|i| i.event_count)
        .sum();
    assert_eq!(
        issue_total,
        before + distinct.len() as i64,
        "issue counts match the events"
    );
}

async fn a_writer_panic_under_load_loses_and_doubles_nothing(backend: Backend) {
    let s = Arc::new(TestServer::start_with(backend, fast_health).await);
    assert_eq!(send(&s, &new_id()).await, 200);

    // One crash mid-load: the batch in flight is written again after the restart.
    s.faults.inject("writer", Fault::Panic(1));
    let started = Instant::now();
    let first = new_id();
    assert_eq!(send(&s, &first).await, 200, "the batch survives the crash");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "back within 1 s: {:?}",
        started.elapsed()
    );

    s.faults.inject("writer", Fault::Panic(1));
    let results = load(&s, 8, 40).await;
    let acked: Vec<String> = results
        .iter()
        .filter(|(_, st)| *st == 200)
        .map(|(id, _)| id.clone())
        .collect();
    assert_eq!(
        acked.len(),
        results.len(),
        "every request succeeds: {results:?}"
    );
    let mut all = acked.clone();
    all.push(first);
    assert_exactly_stored(&s, &all, 1).await;
    assert_eq!(restarts(&s, "writer").await, 2.0);
}

async fn a_hung_writer_is_restarted_by_the_health_check(backend: Backend) {
    let s = TestServer::start_with(backend, fast_health).await;
    assert_eq!(send(&s, &new_id()).await, 200);
    s.faults.inject("writer", Fault::Hang);
    let id = new_id();
    let started = Instant::now();
    assert_eq!(
        send(&s, &id).await,
        200,
        "the hung batch is written after the restart"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(restarts(&s, "writer").await, 1.0);
    assert_exactly_stored(&s, &[id], 1).await;
    let ready: Value = reqwest::get(format!("{}/readyz", s.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready", "{ready}");
}

async fn a_processor_panic_fails_only_what_it_held(backend: Backend) {
    let s = TestServer::start_with(backend, fast_health).await;
    s.faults.inject("processor", Fault::Panic(1));
    let status = send(&s, &new_id()).await;
    assert!(
        status == 503 || status == 500,
        "the crashed submission is not acknowledged: {status}"
    );
    let id = new_id();
    assert_eq!(send(&s, &id).await, 200, "the restarted processor serves");
    assert_eq!(restarts(&s, "processor").await, 1.0);
    assert_exactly_stored(&s, &[id], 0).await;
}

async fn a_panic_in_one_request_answers_500_and_nothing_else(backend: Backend) {
    let s = TestServer::start(backend).await;
    s.faults.inject("ingest-request", Fault::Panic(1));
    assert_eq!(send(&s, &new_id()).await, 500);
    let id = new_id();
    assert_eq!(send(&s, &id).await, 200);
    assert_eq!(
        reqwest::get(format!("{}/healthz", s.url))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_exactly_stored(&s, &[id], 0).await;
}

async fn a_panic_in_one_socket_closes_only_that_socket(backend: Backend) {
    let s = TestServer::start(backend).await;
    let url = format!(
        "{}/api/v1/ingest?sentry_key={}",
        s.url.replace("http://", "ws://"),
        s.public_key
    );
    let (mut a, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let (mut b, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    s.faults.inject("ingest-socket", Fault::Panic(1));
    a.send(Message::Text(
        json!({"message": "doomed"}).to_string().into(),
    ))
    .await
    .unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match a.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return true,
                Some(Ok(Message::Text(_))) => return false,
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .unwrap();
    assert!(closed, "the panicking socket closes without an answer");
    b.send(Message::Text(json!({"message": "fine"}).to_string().into()))
        .await
        .unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(5), b.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let reply: Value = serde_json::from_str(reply.to_text().unwrap()).unwrap();
    assert!(reply["id"].is_string(), "{reply}");
}

async fn a_service_past_its_budget_fails_the_node(backend: Backend) {
    let s = TestServer::start_with(backend, |settings| {
        fast_health(settings);
        settings.limits.restart_budget = 2;
    })
    .await;
    s.faults.inject("writer", Fault::Panic(100));
    let status = send(&s, &new_id()).await;
    assert!(
        status >= 500 || status == 0,
        "nothing is acknowledged: {status}"
    );
    let result = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if s.shutdown.is_cancelled() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(result.is_ok(), "the node stops by itself");
    let mut s = s;
    let err = s.stop().await.unwrap_err();
    assert!(err.to_string().contains("writer"), "{err}");
}

async fn a_shutdown_drains_what_was_accepted(backend: Backend) {
    let s = Arc::new(TestServer::start(backend).await);
    let loader = {
        let s = s.clone();
        tokio::spawn(async move { load(&s, 6, 60).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.shutdown.cancel();
    let results = loader.await.unwrap();
    let acked: Vec<String> = results
        .iter()
        .filter(|(_, st)| *st == 200)
        .map(|(id, _)| id.clone())
        .collect();
    assert!(
        !acked.is_empty(),
        "some events were accepted before the shutdown"
    );
    assert!(
        results.iter().all(|(_, st)| [200, 503, 0].contains(st)),
        "after the shutdown began: 503 or refused connections, never anything else: {results:?}"
    );
    let Ok(mut s) = Arc::try_unwrap(s) else {
        panic!("the server is still shared")
    };
    let stopped = Instant::now();
    s.stop().await.unwrap();
    assert!(stopped.elapsed() < Duration::from_secs(10));
    assert_exactly_stored(&s, &acked, 0).await;
}
