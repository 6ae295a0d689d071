//! Grouping end to end (GROUP-01 … GROUP-05, ISSUE-04 acceptance): real SDK events land in the
//! right issues, "why grouped here" is served, and a racing fingerprint makes exactly one issue.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::api::user_token;
use common::{TestServer, envelope, new_id};
use mesher_server::accounts;
use mesher_store::testing::Backend;
use mesher_store::{Role, Scope};
use serde_json::{Value, json};

on_both_backends!(
    rust_sdk_errors_group_by_type_and_value,
    why_grouped_here_is_served_to_members_only,
    a_racing_new_fingerprint_makes_one_issue_with_an_exact_count,
);

async fn rust_sdk_errors_group_by_type_and_value(backend: Backend) {
    let server = TestServer::start(backend).await;
    let dsn = server.dsn.clone();
    let ids = tokio::task::spawn_blocking(move || {
        let mut options = sentry::ClientOptions::default();
        options.dsn = Some(dsn.parse().unwrap());
        let client = Arc::new(sentry::Client::from_config(sentry::apply_defaults(options)));
        let hub = sentry::Hub::new(Some(client.clone()), Arc::new(sentry::Scope::default()));
        fn load_config(hub: &sentry::Hub) -> sentry::types::Uuid {
            let e = std::io::Error::new(std::io::ErrorKind::NotFound, "config.toml missing");
            hub.capture_error(&e)
        }
        fn reload_config(hub: &sentry::Hub) -> sentry::types::Uuid {
            let e = std::io::Error::new(std::io::ErrorKind::NotFound, "config.toml missing");
            hub.capture_error(&e)
        }
        let parse = "12x".parse::<u32>().unwrap_err();
        let ids = vec![
            load_config(&hub),
            reload_config(&hub),
            hub.capture_error(&parse),
            hub.capture_message("cache miss for user 1234 after 35 ms", sentry::Level::Info),
            hub.capture_message("cache miss for user 99 after 7 ms", sentry::Level::Info),
        ];
        assert!(client.flush(Some(Duration::from_secs(10))));
        ids
    })
    .await
    .unwrap();
    server.wait_for_events(5).await;
    let mut issue_of = Vec::new();
    for id in &ids {
        let e = server
            .store
            .event(
                server.project_id,
                mesher_protocol::EventId::from_bytes(*id.as_bytes()),
            )
            .await
            .unwrap()
            .unwrap();
        issue_of.push(e.issue_id);
    }
    assert_eq!(
        issue_of[0], issue_of[1],
        "the same error from two call sites is one issue"
    );
    assert_ne!(
        issue_of[0], issue_of[2],
        "another error type is another issue"
    );
    assert_eq!(
        issue_of[3], issue_of[4],
        "messages differing in numbers are one issue"
    );
    assert_eq!(
        server
            .store
            .list_issues(server.project_id)
            .await
            .unwrap()
            .len(),
        3
    );
}

async fn why_grouped_here_is_served_to_members_only(backend: Backend) {
    let s = TestServer::start(backend).await;
    let store = s.store.as_ref();
    let (_, token, _) =
        user_token(&s, "dev@example.com", (s.org_id, Role::Member), Scope::Read).await;
    let other_org = accounts::create_org(store, "Elsewhere", None)
        .await
        .unwrap();
    let (_, outsider_token, _) = user_token(
        &s,
        "out@example.com",
        (other_org.id, Role::Owner),
        Scope::Admin,
    )
    .await;

    let id = new_id();
    let event = json!({
        "platform": "python",
        "exception": {"values": [{
            "type": "ZeroDivisionError", "value": "division by zero",
            "stacktrace": {"frames": [
                {"module": "shop.cart", "function": "total", "lineno": 10, "in_app": true, "context_line": "    return a / b"},
                {"module": "django.core", "function": "dispatch", "lineno": 99, "in_app": false},
            ]},
        }]},
    });
    let resp = reqwest::Client::new()
        .post(s.envelope_url())
        .header("x-sentry-auth", s.auth_header())
        .body(envelope(&id, &event))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    let url = format!(
        "{}/api/v1/projects/{}/events/{id}/grouping",
        s.url, s.project_id
    );
    let get = |token: Option<String>| {
        let url = url.clone();
        async move {
            let mut req = reqwest::Client::new().get(&url);
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let r = req.send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, body) = get(Some(token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["matches_issue"], true);
    let grouping = &body["grouping"];
    assert_eq!(grouping["kind"], "exception_stacktrace");
    let components = grouping["components"].as_array().unwrap();
    assert!(
        components.iter().any(|c| c == "shop.cart"),
        "{components:?}"
    );
    assert!(
        components.iter().any(|c| c == "ZeroDivisionError"),
        "{components:?}"
    );
    assert!(
        !components.iter().any(|c| c == "django.core"),
        "system frames do not decide when in-app ones exist"
    );
    assert!(
        !grouping.to_string().contains("\"10\""),
        "line numbers never contribute"
    );
    assert_eq!(body["issue_grouping"]["hash"], grouping["hash"]);

    assert_eq!(get(None).await.0, 401);
    assert_eq!(
        get(Some(outsider_token)).await.0,
        404,
        "another organization's event is not revealed"
    );
    assert_eq!(
        get(Some("mshr_000000000000000000000000".into())).await.0,
        401
    );
}

async fn a_racing_new_fingerprint_makes_one_issue_with_an_exact_count(backend: Backend) {
    let s = Arc::new(TestServer::start(backend).await);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move {
                let batch: Vec<Value> = (0..25)
                    .map(|_| json!({"message": "the very same failure"}))
                    .collect();
                let r = reqwest::Client::new()
                    .post(format!("{}/api/v1/events/bulk", s.url))
                    .bearer_auth(&s.public_key)
                    .json(&batch)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 202);
                let results: Value = r.json().await.unwrap();
                assert!(
                    results
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(|r| r["id"].is_string()),
                    "{results}"
                );
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let issues = s.store.list_issues(s.project_id).await.unwrap();
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].event_count, 400);
    assert_eq!(s.store.count_events(s.project_id).await.unwrap(), 400);
}
