//! Releases through the management API, on both backends: "resolve in next release" on an
//! issue without a release (issue 12, row 13).

mod common;

use common::{TestServer, envelope, new_id};
use mesher_server::accounts;
use mesher_store::testing::Backend;
use mesher_store::{Role, Scope};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_backends!(resolving_in_the_next_release_needs_a_release_in_the_project);

/// Sends an SDK-shaped event and waits until `stored` events of the project are stored.
async fn ingest(s: &TestServer, event: Value, stored: i64) {
    let id = new_id();
    let resp = reqwest::Client::new()
        .post(s.envelope_url())
        .header("x-sentry-auth", s.auth_header())
        .body(envelope(&id, &event))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    s.wait_for_events(stored).await;
}

/// `POST /api/v1/issues/{id}/status` with `status`, as the project's owner.
async fn set_status(s: &TestServer, token: &str, issue: i64, status: &str) -> (StatusCode, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/issues/{issue}/status", s.url))
        .bearer_auth(token)
        .json(&json!({ "status": status }))
        .send()
        .await
        .unwrap();
    (resp.status(), resp.json().await.unwrap())
}

/// Issue 12, row 13: without any release in the project, resolving an issue that has no
/// release in the next release is a 400 with Sentry's message and changes nothing; once the
/// project has a release, the issue resolves in the next release after it.
async fn resolving_in_the_next_release_needs_a_release_in_the_project(backend: Backend) {
    let s = TestServer::start(backend).await;
    let store = s.store.as_ref();
    let owner = accounts::create_user(
        store,
        "owner@example.com",
        None,
        "long enough",
        Some((s.org_id, Role::Owner)),
    )
    .await
    .unwrap();
    let (token, _) = accounts::create_token(store, owner.id, "test", Scope::Admin)
        .await
        .unwrap();

    ingest(&s, json!({"message": "no release here"}), 1).await;
    let issue = s.store.list_issues(s.project_id).await.unwrap()[0].id;
    let (status, body) = set_status(&s, &token, issue, "resolve_in_next_release").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "bad_request");
    assert_eq!(
        body["error"]["message"],
        "No release data present in the system to form a basis for 'Next Release'"
    );
    let unchanged = s.store.issue(issue).await.unwrap().unwrap();
    assert_eq!(unchanged.status, mesher_store::IssueStatus::Unresolved);
    assert_eq!(unchanged.resolved_in_release, None);

    // Another issue brings the project its first release.
    ingest(
        &s,
        json!({"message": "another issue", "release": "shop@1.0.0"}),
        2,
    )
    .await;
    let (status, body) = set_status(&s, &token, issue, "resolve_in_next_release").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "resolved");
    assert_eq!(body["resolved_in_release"], "shop@1.0.0");
}
