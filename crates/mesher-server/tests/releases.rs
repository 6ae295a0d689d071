//! Releases through the management API, on both backends: "resolve in next release" on an
//! issue without a release (issue 12, row 13).

mod common;

use common::TestServer;
use common::api::{Api, ingest, owner_token};
use mesher_store::testing::Backend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_backends!(resolving_in_the_next_release_needs_a_release_in_the_project);

/// Sends an SDK-shaped event and waits until `stored` events of the project are stored.
async fn ingest_stored(s: &TestServer, event: Value, stored: i64) {
    ingest(s, event).await;
    s.wait_for_events(stored).await;
}

/// `POST /api/v1/issues/{id}/status` with `status`.
async fn set_status(api: &Api, issue: i64, status: &str) -> (StatusCode, Value) {
    api.call(
        Method::POST,
        &format!("/api/v1/issues/{issue}/status"),
        Some(json!({ "status": status })),
    )
    .await
}

/// Issue 12, row 13: without any release in the project, resolving an issue that has no
/// release in the next release is a 400 with Sentry's message and changes nothing; once the
/// project has a release, the issue resolves in the next release after it.
async fn resolving_in_the_next_release_needs_a_release_in_the_project(backend: Backend) {
    let s = TestServer::start(backend).await;
    let api = Api::new(&s, Some(owner_token(&s).await));

    ingest_stored(&s, json!({"message": "no release here"}), 1).await;
    let issue = s.store.list_issues(s.project_id).await.unwrap()[0].id;
    let (status, body) = set_status(&api, issue, "resolve_in_next_release").await;
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
    ingest_stored(
        &s,
        json!({"message": "another issue", "release": "shop@1.0.0"}),
        2,
    )
    .await;
    let (status, body) = set_status(&api, issue, "resolve_in_next_release").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "resolved");
    assert_eq!(body["resolved_in_release"], "shop@1.0.0");
}
