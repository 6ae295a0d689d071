//! Distinct users per issue read through the management API, on both backends (issue 12,
//! row 8; acceptance 3).

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use common::api::{Api, owner_token};
use common::{TestServer, envelope, new_id};
use mesher_store::NewEvent;
use mesher_store::testing::Backend;
use reqwest::Method;
use serde_json::{Value, json};

on_both_backends!(user_counts_are_exact_to_ten_thousand_and_within_two_percent_beyond);

/// Sends the events through the ingest endpoint, a few at a time.
async fn ingest(s: &TestServer, events: Vec<Value>) {
    let client = reqwest::Client::new();
    for chunk in events.chunks(16) {
        let sends = chunk.iter().map(|event| {
            let client = client.clone();
            async move {
                let resp = client
                    .post(s.envelope_url())
                    .header("x-sentry-auth", s.auth_header())
                    .body(envelope(&new_id(), event))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 200);
            }
        });
        futures_util::future::join_all(sends).await;
    }
}

/// `n` events of the issue titled `message`, each by another user. The users have a username
/// and one shared e-mail: keyed by username first, as Sentry keys them, they are `n` users (by
/// e-mail first they were one).
fn by_users(message: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({
                "message": message,
                "user": {"username": format!("{message}-{i}"), "email": "shared@example.com"},
            })
        })
        .collect()
}

/// An event for the store's batch writer: ingesting 20,000 events through HTTP would take
/// most of a minute on a CI machine; the count is still read through the API.
fn stored_event(project_id: i64, user: u32) -> NewEvent {
    let mut event_id = [0u8; 16];
    event_id[..4].copy_from_slice(&user.to_be_bytes());
    event_id[15] = 0x77;
    NewEvent {
        event_id: mesher_protocol::EventId::from_bytes(event_id),
        user_key: Some(format!("id:{user}")),
        ..common::stored_event(project_id, "many users", time::OffsetDateTime::now_utc())
    }
}

/// Issue 12, row 8 and acceptance 3: issues with 1, 4, 25, 500 and 20,000 distinct users show
/// exactly 1, 4, 25 and 500 (the old 256-register sketch showed 4 as 3, 25 as 26 and 500 as
/// 532) and 20,000 within 2 %, in the issue and in the issue list.
async fn user_counts_are_exact_to_ten_thousand_and_within_two_percent_beyond(backend: Backend) {
    let s = TestServer::start(backend).await;
    let api = Api::new(&s, Some(owner_token(&s).await));
    // Named in words: numbers in messages are parameterized away by grouping.
    let sizes = [
        ("one", 1),
        ("four", 4),
        ("twenty-five", 25),
        ("five hundred", 500),
    ];
    let mut events = Vec::new();
    for (name, n) in sizes {
        events.extend(by_users(&format!("users {name}"), n));
    }
    // Users seen again are not counted again.
    events.extend(by_users("users twenty-five", 25));
    let sent = events.len() as i64;
    ingest(&s, events).await;
    s.wait_for_events(sent).await;
    for batch in (0..20_000).collect::<Vec<u32>>().chunks(1000) {
        let events = batch
            .iter()
            .map(|&u| stored_event(s.project_id, u))
            .collect();
        s.store.write_events(Arc::new(events)).await.unwrap();
    }

    let p = s.project_id;
    let list = api
        .ok(
            Method::GET,
            &format!("/api/v1/projects/{p}/issues?limit=100"),
            None,
        )
        .await;
    let listed: HashMap<String, (i64, i64)> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let title = i["title"].as_str().unwrap().to_string();
            (
                title,
                (i["id"].as_i64().unwrap(), i["user_count"].as_i64().unwrap()),
            )
        })
        .collect();
    assert_eq!(listed.len(), 5, "{list}");
    for (name, n) in sizes {
        let (id, listed_count) = listed[&format!("users {name}")];
        assert_eq!(listed_count, n as i64, "users {name} in the list");
        let issue = api
            .ok(Method::GET, &format!("/api/v1/issues/{id}"), None)
            .await;
        assert_eq!(issue["user_count"], n, "users {name}: {issue}");
    }
    let (id, listed_count) = listed["many users"];
    let issue = api
        .ok(Method::GET, &format!("/api/v1/issues/{id}"), None)
        .await;
    let count = issue["user_count"].as_i64().unwrap();
    assert_eq!(count, listed_count);
    assert_eq!(issue["count"], 20_000);
    let error = (count - 20_000).abs() as f64 / 20_000.0;
    assert!(error < 0.02, "{count} for 20,000 users");
}
